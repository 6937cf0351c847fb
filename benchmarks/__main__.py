"""Run every benchmark and record its figures under benchmarks/results/."""

from benchmarks import foundation, gpu_lab, grading, inference, tokenizer

if __name__ == "__main__":
    foundation.main()
    grading.main()
    tokenizer.main()
    gpu_lab.main()
    inference.main()
