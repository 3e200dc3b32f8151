"""Serving an exported SavedModel as TF Serving's REST API does, with tensorflow and tensorflow-text only (no
bert_tf model code): `rest` maps request bodies to a signature and its outputs back to JSON; `server` is a KServe
model server answering `/v1/models/<name>:predict` with it (`serve_model.py`). Importing this package imports
neither TensorFlow nor KServe.
"""
