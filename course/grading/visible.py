"""Course modules that labs let their notebooks import while graded, in named groups.

A lab's test file lists what its notebook may import in `COURSE_MODULES` (paths under
course/); the grader's worker sees those and nothing else of the course, so a graded
function cannot be imported from the course's own reference code.
"""

#: The reference GPT (course.nn.gpt) and the modules it is built from.
GPT_MODULES = (
    "nn/__init__.py",
    "nn/gpt.py",
    "nn/blocks.py",
    "nn/attention.py",
    "nn/feedforward.py",
    "nn/norms.py",
    "nn/positions.py",
)
