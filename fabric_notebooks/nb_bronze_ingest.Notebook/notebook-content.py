# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # Bronze ingest
#
# Lands new telemetry files from `lh_bronze_raw` Files/landing into `lh_bronze_raw.telemetry_raw`
# (one row per received reading, deduplicated by event id; bad files set aside with a reason).

# PARAMETERS CELL ********************

run_id = ""
environment = "local"
key_vault_url = ""

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import bronze_ingest

result = bronze_ingest(spark, notebookutils, run_id=run_id, environment=environment,
                       key_vault_url=key_vault_url)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
