# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # ML train (on demand)
#
# Simulates training fleets (`seeds`, blank: `config/ml.yaml`), runs them through Bronze, Silver and Gold in
# temporary folders, fits the anomaly, RUL and failure-mode models and registers a new version in MLflow.

# PARAMETERS CELL ********************

seeds = ""
compressors = 0
days = 0

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

from altaviz.entrypoints import ml_train

result = ml_train(spark, notebookutils, seeds=seeds, compressors=compressors, days=days)
notebookutils.notebook.exit(result)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
