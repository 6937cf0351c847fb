"""Grade a lab notebook: `python -m course.grade labs/lab01_vectors.ipynb --json results.json`."""

from course.grading.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
