# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # ML score
#
# Scores the complete hours since the last run with a registered model version (`model_version`, blank: the
# latest): anomaly score and flag, contributing sensors, temperature drift, RUL with its 80 % interval and the most
# likely failure mode into `lh_ml_serving.ml_predictions`; daily emissions into `emissions_daily`; predictive
# alerts into Gold `alerts`.

# PARAMETERS CELL ********************

as_of = ""
run_id = ""
environment = "local"
key_vault_url = ""
model_version = ""

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import ml_score

result = ml_score(spark, notebookutils, as_of=as_of, run_id=run_id, environment=environment,
                  key_vault_url=key_vault_url, model_version=model_version)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
