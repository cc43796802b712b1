# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # Silver cleanse
#
# Validates new Bronze readings into `lh_silver_cleaned.telemetry_clean` and `telemetry_rejected` (with reasons),
# then runs the data-quality checks; a failed `block` check fails this notebook so Gold does not run.

# PARAMETERS CELL ********************

as_of = ""
run_id = ""
environment = "local"
key_vault_url = ""

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import silver_cleanse

result = silver_cleanse(spark, notebookutils, as_of=as_of, run_id=run_id, environment=environment,
                        key_vault_url=key_vault_url)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
