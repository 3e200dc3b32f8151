"""A KServe model server for an exported SavedModel: KServe's V1 protocol is TF Serving's REST API, so
`POST /v1/models/<name>:predict` takes TF Serving's bodies (`bert_tf.serving.rest`) and `GET /v1/models/<name>`
says whether the model is ready. `GET /v1/models/<name>/metadata` lists the signatures in TF Serving's layout.

Errors are JSON `{"error": message}`: 400 for a request the model cannot answer (malformed JSON, unknown keys,
missing or misspelt inputs, values of the wrong type, a request beyond the SavedModel's limits), 404 for an unknown
model. The signature runs in a worker thread, so concurrent requests run side by side (TensorFlow releases the GIL)
and the event loop keeps accepting connections meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys

from bert_tf.serving import rest


def model_path(model_dir: str) -> str:
    """The SavedModel to serve: `model_dir` itself, or as TF Serving does for a model base folder, its
    highest-numbered version `<model_dir>/<N>/`. Raises ValueError naming the folder when there is none."""
    import tensorflow as tf

    if tf.saved_model.contains_saved_model(model_dir):
        return model_dir
    versions = sorted((int(v) for v in (os.listdir(model_dir) if os.path.isdir(model_dir) else [])
                       if re.fullmatch(r"\d+", v) and tf.saved_model.contains_saved_model(os.path.join(model_dir, v))),
                      reverse=True)
    if not versions:
        raise ValueError(f"{model_dir}: no SavedModel there (saved_model.pb), nor in a numbered version folder")
    return os.path.join(model_dir, str(versions[0]))


def signature_metadata(model) -> dict:
    """TF Serving's `metadata.signature_def` of a loaded SavedModel: each signature's inputs and outputs with
    their dtype (`DT_STRING`, ...) and shape (-1 for any size)."""
    from tensorflow.core.framework import types_pb2

    def describe(spec):
        dims = [{"size": str(-1 if d is None else d)} for d in spec.shape.as_list()] if spec.shape.rank is not None \
            else []
        return {"dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
                "tensor_shape": {"dim": dims, "unknown_rank": spec.shape.rank is None}}

    signatures = {}
    for name, function in model.signatures.items():
        signatures[name] = {
            "inputs": {k: describe(v) for k, v in sorted(rest.input_specs(function).items())},
            "outputs": {k: describe(v) for k, v in sorted(function.structured_outputs.items())},
            "method_name": "tensorflow/serving/predict"}
    return {"signature_def": {"signature_def": signatures}}


def _kserve():
    """Imports KServe, whose model_server module parses sys.argv when imported (its own flags): it is shown only
    the program name, so that this program's flags cannot be taken for KServe's."""
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        import kserve
        from kserve.protocol.rest.server import RESTServer
    finally:
        sys.argv = argv
    return kserve, RESTServer


def saved_model_server(name: str, model_dir: str):
    """A loaded `kserve.Model` named `name` answering TF Serving's REST bodies with the SavedModel at
    `model_dir` (or its highest version)."""
    kserve, _ = _kserve()

    class SavedModelServer(kserve.Model):
        def __init__(self):
            super().__init__(name)
            self.path = model_path(model_dir)
            self.model = None

        def load(self) -> bool:
            import tensorflow as tf
            import tensorflow_text  # noqa: F401  (registers the tf-text ops the SavedModel uses)

            self.model = tf.saved_model.load(self.path)
            self.ready = True
            return self.ready

        async def predict(self, payload, headers=None, response_headers=None):
            try:
                return await asyncio.to_thread(rest.predict, self.model, payload)
            except rest.RequestError as error:
                raise kserve.errors.InvalidInput(str(error)) from None

    model = SavedModelServer()
    model.load()
    return model


def serve(model_dir: str, name: str, port: int, host: str = "127.0.0.1") -> None:
    """Serves the SavedModel at `model_dir` as model `name` on host:port (HTTP only) until SIGINT or SIGTERM,
    then answers the requests in flight and exits with status 0."""
    with socket.socket() as probe:  # a port that cannot be had is refused before the model loads
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ValueError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    kserve, RESTServer = _kserve()
    model = saved_model_server(name, model_dir)
    server = kserve.ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False)
    server.register_model(model)
    spec = {"name": name, "signature_name": ""}
    if model.path != model_dir:  # served from a version folder of a model base
        spec["version"] = os.path.basename(model.path)
    metadata = {"model_spec": spec, "metadata": signature_metadata(model.model)}

    async def model_metadata(model_name: str):
        if model_name != name:
            raise kserve.errors.ModelNotFound(model_name)
        return metadata

    app = sys.modules["kserve.model_server"].app
    app.add_api_route("/v1/models/{model_name}/metadata", model_metadata, methods=["GET"])
    # KServe's ModelServer.start listens on every interface; this server listens where it is told (by default
    # only this machine), and uvicorn's own SIGINT/SIGTERM handling drains the requests in flight.
    rest_server = RESTServer("kserve.model_server:app", server.dataplane, server.model_repository_extension, port)
    rest_server.config.host = host

    def stop(*_):  # uvicorn answers the requests in flight, then raises the signal again under this handler
        sys.exit(0)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    asyncio.run(rest_server.start())
