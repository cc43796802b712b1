# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # Refresh SQL analytics endpoint
#
# Forces the SQL analytics endpoint of each listed lakehouse to sync its table metadata, so Power BI sees
# this run's data at once instead of after the endpoint's lazy sync. A table that fails to sync fails this notebook.

# PARAMETERS CELL ********************

lakehouses = "lh_gold_curated"
run_id = ""
environment = "local"
key_vault_url = ""

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import refresh_sql_endpoints

result = refresh_sql_endpoints(spark, notebookutils, lakehouses=lakehouses, run_id=run_id, environment=environment,
                               key_vault_url=key_vault_url)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
