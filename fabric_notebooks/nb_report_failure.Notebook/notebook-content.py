# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # Report a failed run
#
# Runs only when a stage failed or was skipped. Sends one Teams card for the run (stage, error, run id, link to the
# logs), unless the quality gate stopped it (that run already had its quality card), then fails on purpose so
# the pipeline run shows Failed.

# PARAMETERS CELL ********************

run_id = ""
environment = "local"
key_vault_url = ""
pipeline = ""

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import report_failure

# Sends the card, then raises: this notebook failing is what marks the pipeline run Failed.
report_failure(spark, notebookutils, run_id=run_id, environment=environment, key_vault_url=key_vault_url,
               pipeline=pipeline)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
