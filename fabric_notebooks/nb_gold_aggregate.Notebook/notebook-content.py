# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # Gold aggregate
#
# Aggregates clean readings into 1/4/24-hour windows (`sensor_readings_agg`), evaluates the alert lifecycle
# (`alerts`) and rebuilds `fleet_health`, `station_health` and `basin_health` as of `as_of`.

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

from altaviz.entrypoints import gold_aggregate

result = gold_aggregate(spark, notebookutils, as_of=as_of, run_id=run_id, environment=environment,
                        key_vault_url=key_vault_url)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
