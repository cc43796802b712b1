"""Continuous streaming Bronze: the main file of the `sjd_bronze_stream` Spark Job Definition.

Fabric runs it with the definition's command-line arguments (the stack deploys it with `--environment` and
`--key-vault-url`); the definition's retry policy restarts it when it fails. Locally:
`python Main/bronze_stream_job.py --lakehouse-root .lakehouse --max-seconds 60` (see `altaviz.stream_job`).
"""

import sys

from altaviz.stream_job import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
