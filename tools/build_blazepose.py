"""Rebuild the BlazePose GHUM landmark networks as ONNX files (a dev-time step).

    python tools/build_blazepose.py [--tarball FILE.tgz] [--out DIR] [--update]

Source: the npm package ``@mediapipe/pose`` 0.5.1675469404 (Apache-2.0), which carries Google's
BlazePose GHUM landmark models as TensorFlow Lite files (float16 weights).  Steps: sha256 of the
tarball and of each ``.tflite`` file taken from it, tf2onnx's TFLite converter (opset
:data:`build_movenet.OPSET`), float16 initializers (the TFLite weights are float16 already, so
nothing is lost), canonical names (two builds give the same bytes; both from
``tools/build_movenet.py``), onnxruntime checked against TensorFlow Lite's interpreter on a
test input, and the sha256 of each written file compared with :data:`OUTPUT_SHA256`.

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

NPM_SPEC = "@mediapipe/pose@0.5.1675469404"
#: sha256 of the npm tarball and of the files taken from it.
NPM_SHA256 = {
    "mediapipe-pose-0.5.1675469404.tgz":
        "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84",
    "pose_landmark_heavy.tflite":
        "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
    "pose_landmark_full.tflite":
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
}
#: TFLite file in the package -> ONNX file written.
MODELS = {
    "pose_landmark_heavy.tflite": "blazepose-heavy.onnx",
    "pose_landmark_full.tflite": "blazepose-full.onnx",
}
#: sha256 of the ONNX files this script writes.
OUTPUT_SHA256 = {
    "blazepose-heavy.onnx": "bea9a07a62f4662876f7b74cbef830a861e63d090467582e0b4b5a87144b5125",
    "blazepose-full.onnx": "7cf4db367dd01e541f6cdacaeb14bfb0cd2175f8e96acb030eff318e77211e54",
}


def check_against_tflite(tflite: Path, onnx_path: Path) -> float:
    """Max |onnxruntime - TFLite| over the landmark, flag and heatmap outputs on a fixed
    pseudo-random 256 x 256 input in [0, 1]."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    interpreter = tf.lite.Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    want = {d["name"]: interpreter.get_tensor(d["index"])
            for d in interpreter.get_output_details()}
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()],
                   sess.run(None, {sess.get_inputs()[0].name: x})))
    # Identity: landmarks, Identity_1: pose flag, Identity_3: heatmap (the outputs wildpose uses)
    return max(float(np.abs(got[k] - want[k]).max())
               for k in ("Identity", "Identity_1", "Identity_3"))


def main(argv: list[str] | None = None) -> int:
    args = bm.build_arguments(__doc__).parse_args(argv)
    import onnx
    import tf2onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tarball = args.tarball or bm.fetch_tarball(work, NPM_SPEC)
        bm.check_sha(tarball, NPM_SHA256.get(tarball.name), args.update)
        args.out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            for name in MODELS:
                tar.extract(f"package/{name}", work, filter="data")
        for name, target in MODELS.items():
            tflite = work / "package" / name
            bm.check_sha(tflite, NPM_SHA256.get(name), args.update)
            model, _ = tf2onnx.convert.from_tflite(str(tflite), opset=bm.OPSET)
            model = bm.canonical_names(bm.halve_weights(model))
            model.graph.name = Path(target).stem
            model.producer_name = "wildpose tools/build_blazepose.py"
            model.producer_version = ""
            model.doc_string = (f"BlazePose GHUM landmark model ({name}) by Google, "
                                f"Apache-2.0; converted from {NPM_SPEC}")
            onnx.checker.check_model(model)
            path = args.out / target
            onnx.save(model, str(path))
            err = check_against_tflite(tflite, path)
            print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, max |onnx - tflite| = "
                  f"{err:.2e}")
            if err > 1e-2:
                sys.exit(f"build_blazepose: {path.name} does not match TFLite ({err:.3g})")
            bm.check_sha(path, OUTPUT_SHA256.get(path.name), args.update)
    return 0


if __name__ == "__main__":
    sys.exit(main())
