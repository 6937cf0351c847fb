"""Explanatory diagrams of the book, drawn by code: one module per family of pictures.

Every function draws one diagram on a new figure and returns it; a chapter cell calls it
and then ``plt.show()``. The figures have an opaque white background and dark ink, so
they read the same on the book's light and dark themes, and they use the colours of
:data:`course.plots.PALETTE`.
"""

from course.diagrams.attention import heads_split_merge, qkv_scores
from course.diagrams.blocks import encoder_decoder, transformer_blocks
from course.diagrams.decoding import beam_tree
from course.diagrams.encoders import attention_masks, mlm_corruption
from course.diagrams.experts import expert_routing
from course.diagrams.inference import flash_tiles, kv_cache_growth, speculative_decoding
from course.diagrams.sequences import bpe_merges, embedding_pipeline, skip_votes
from course.diagrams.training import training_loop

__all__ = [
    "attention_masks",
    "beam_tree",
    "bpe_merges",
    "embedding_pipeline",
    "encoder_decoder",
    "expert_routing",
    "flash_tiles",
    "heads_split_merge",
    "kv_cache_growth",
    "mlm_corruption",
    "qkv_scores",
    "skip_votes",
    "speculative_decoding",
    "training_loop",
    "transformer_blocks",
]
