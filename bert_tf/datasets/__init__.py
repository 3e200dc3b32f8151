"""TensorFlow Datasets builders of bert_tf's own datasets (a TFDS builder lives in a package folder).

`bert_pretraining`: masked-LM / next-sentence instances made on Apache Beam from local text files. Importing
`bert_tf.datasets.bert_pretraining` registers it, so `tfds.builder("bert_pretraining/...")` finds it.
"""
