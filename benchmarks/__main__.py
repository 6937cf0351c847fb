"""Run every benchmark and record its figures under benchmarks/results/."""

from benchmarks import foundation, tokenizer

if __name__ == "__main__":
    foundation.main()
    tokenizer.main()
