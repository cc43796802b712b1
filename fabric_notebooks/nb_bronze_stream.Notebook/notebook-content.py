# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # Bronze stream
#
# Streams telemetry events from Event Hubs (its Kafka endpoint) into `lh_bronze_raw.telemetry_raw`, exactly once
# (checkpoint `Files/checkpoints/telemetry_stream`); events that are not a reading go to `telemetry_deadletter`
# with the reason. `available-now` (the hourly pipeline's catch-up before Silver) drains the hub and stops.

# PARAMETERS CELL ********************

run_id = ""
environment = "local"
key_vault_url = ""
trigger = "available-now"
max_seconds = ""

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import bronze_stream

result = bronze_stream(spark, notebookutils, run_id=run_id, environment=environment,
                       key_vault_url=key_vault_url, trigger=trigger, max_seconds=max_seconds)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
