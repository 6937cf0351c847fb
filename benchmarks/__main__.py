"""Run the benchmarks and record their figures under benchmarks/results/.

python -m benchmarks        every CPU benchmark (make bench)
python -m benchmarks gpu    the GPU lab's figures on whatever device is present (make bench-gpu)
"""

import sys

from benchmarks import (
    foundation,
    gpu_lab,
    grading,
    inference,
    modern_decoder,
    tokenizer,
    trainer,
)

if __name__ == "__main__":
    if sys.argv[1:] == ["gpu"]:
        gpu_lab.main()
    elif sys.argv[1:]:
        sys.exit(f"usage: python -m benchmarks [gpu], got {' '.join(sys.argv[1:])!r}")
    else:
        foundation.main()
        grading.main()
        tokenizer.main()
        gpu_lab.main()
        inference.main()
        trainer.main()
        modern_decoder.main([])
