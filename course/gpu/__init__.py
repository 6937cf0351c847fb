"""The GPU lab's reference code: FlashAttention in Triton, a GPT with switchable
attention, a preallocated KV cache, and a training loop that scales from one CPU core
to several GPUs (DDP through torchrun).

Modules: ``tokenizer`` (bytes as tokens), ``attention`` (naive, sdpa, tiled PyTorch),
``flash_triton`` (the Triton kernel; import it only when you need it: without CUDA it
switches Triton to its CPU interpreter), ``model``, ``kv_cache``, ``train``, ``memory``.
"""
