"""Training batches of the ``wild`` lifter, made on every step in torch.

A 3D-labelled sample is a mocap pose with random body proportions, seen by a random virtual
camera, whose joints a simulated detector reports: per-sample joint-definition offsets, the
layout its keypoints come in (Human3.6M's own, MPII's or COCO's, converted to H36M17 by
:func:`wildpose.skeleton.convert_layout` as a user's keypoints are), noise, outliers,
left/right swaps, dropped joints and limbs, and an image border.  Its target is the clean
root-relative camera-frame 3D in mm.  A 2D-only sample is a real in-the-wild pose, mirrored
and given other limb proportions.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ...augment import (AugmentConfig, DetectorModel, augment_batch, cut_at_border,
                        detector_errors, move_joint_definitions, mpii_slot_meanings,
                        random_bone_factors, rescale_bones)
from ...camera import camera_to_pixels, virtual_camera_view
from ...normalization import normalize_2d
from ...skeleton import COCO17, H36M17, MPII16, convert_layout
from .config import WildConfig
from .pool import CameraViews

__all__ = ["detector_model", "face_points", "synthesize", "real_camera_batch", "two_d_batch",
           "CameraDraw", "draw_cameras"]

_J = {name: i for i, name in enumerate(H36M17.joints)}
_FACE = tuple(COCO17.joints.index(n) for n in ("left_eye", "right_eye", "left_ear",
                                                "right_ear"))
# Bones of the limbs (a 2D-only pose's proportions change only there: the head and spine
# slots of a converted MPII or LSP pose are defined differently, and may be missing).
_LIMB_BONES = torch.tensor([not any(w in n for w in ("spine", "neck", "head"))
                            for n in H36M17.bone_names])
_LIMB_JOINTS = [j for j in range(17) if H36M17.joints[j] not in
                ("Spine", "Thorax", "Neck/Nose", "Head")]


def detector_model(cfg: WildConfig) -> DetectorModel:
    aug = cfg.augment
    return DetectorModel(cfg.definitions, cfg.jitter_mm, aug.noise_max, cfg.outlier_prob,
                         cfg.swap_prob, aug.drop_prob, aug.drop_limb_prob, cfg.cut_prob,
                         cfg.ankle_definitions)


def face_points(pose: torch.Tensor) -> torch.Tensor:
    """Eyes and ears of H36M17 poses, for keypoints in COCO's layout.

    Human3.6M marks the nose ("Neck/Nose") and the top-back of the head ("Head") only; the
    eyes are placed 35 mm above and 20 mm behind the nose, 32 mm to each side, the ears
    30 mm above and 100 mm behind it, 75 mm to each side (an adult head), in the head's
    frame: up from the thorax to the head, sideways along the shoulders.

    Args:
        pose: (B, 17, 3) mm, any frame.
    Returns:
        (B, 4, 3) mm: left eye, right eye, left ear, right ear.
    """
    nose = pose[:, _J["Neck/Nose"]]
    up = pose[:, _J["Head"]] - pose[:, _J["Thorax"]]
    up = up / up.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    side = pose[:, _J["LShoulder"]] - pose[:, _J["RShoulder"]]
    side = side - (side * up).sum(-1, keepdim=True) * up
    side = side / side.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    ahead = torch.linalg.cross(side, up)          # the way the face looks
    eyes = nose + 35 * up - 20 * ahead
    ears = nose + 30 * up - 100 * ahead
    return torch.stack([eyes + 32 * side, eyes - 32 * side, ears + 75 * side,
                        ears - 75 * side], 1)


class CameraDraw:
    """One virtual camera per sample: (B,) azimuth, elevation, roll (degrees), distance
    (mm), focal (pixels) and (B, 2) offset of the root across the view (mm)."""

    def __init__(self, azimuth, elevation, roll, distance, focal, offset):
        self.azimuth, self.elevation, self.roll = azimuth, elevation, roll
        self.distance, self.focal, self.offset = distance, focal, offset


def draw_cameras(b: int, cfg: WildConfig, gen: torch.Generator) -> CameraDraw:
    """Random cameras: azimuth all around, elevation, roll, distance (log-uniform), focal
    and off-centre placement in ``cfg``'s ranges."""
    def u(lo: float, hi: float, shape=(b,)) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    distance = torch.exp(u(float(torch.log(torch.tensor(cfg.distance_min))),
                           float(torch.log(torch.tensor(cfg.distance_max)))))
    return CameraDraw(u(0.0, 360.0), u(cfg.elevation_min, cfg.elevation_max),
                      u(-cfg.roll_max, cfg.roll_max), distance,
                      u(cfg.focal_min, cfg.focal_max),
                      u(-cfg.off_centre, cfg.off_centre, (b, 2)) * distance[:, None])


def _through_layout(px: torch.Tensor, layout) -> tuple[torch.Tensor, torch.Tensor]:
    """H36M17 pixels read in ``layout`` and converted back, as a user's keypoints are."""
    kp, ok = convert_layout(px, H36M17, layout)
    return convert_layout(kp, layout, H36M17, ok)


def synthesize(poses: torch.Tensor, cfg: WildConfig, gen: torch.Generator,
               detector: DetectorModel | None = None, flip_prob: float | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3D-labelled training samples from canonical mocap poses.

    Args:
        poses: (B, 17, 3) float32 mm, canonical body frame (wildpose.mocap.sources).
        detector: the simulated detector (default from ``cfg``; ``DetectorModel(0, 0, 0,
            0, 0, 0, 0, 0)`` with styles 0 gives exact projections).
        flip_prob: mirror probability (default ``cfg.flip_prob``).
    Returns:
        ``(keypoints, valid, target)``: (B, 17, 2) normalized H36M17 keypoints
        (:func:`wildpose.normalization.normalize_2d`), (B, 17) bool, (B, 17, 3) mm
        root-relative camera-frame 3D of the clean body.
    """
    b = poses.shape[0]
    detector = detector_model(cfg) if detector is None else detector
    body = poses
    if cfg.bone_scale > 0:
        body = rescale_bones(poses, random_bone_factors(b, cfg.bone_scale, gen))
    seen = move_joint_definitions(body, detector.definitions, gen, detector.ankles)
    if detector.jitter_mm > 0:
        seen = seen + torch.randn(seen.shape, generator=gen) * detector.jitter_mm
    cam = draw_cameras(b, cfg, gen)
    points = torch.cat([body, seen, face_points(seen)], 1)
    xyz, px = virtual_camera_view(points, cam.azimuth, cam.elevation, cam.roll,
                                  cam.distance, cam.focal, None, cam.offset)
    target = xyz[:, :17] - xyz[:, :1]
    kp, valid = _as_detected(px[:, 17:34], px[:, 34:38], cfg, detector, gen)
    norm, _, _ = normalize_2d(kp, valid, root=H36M17.root)
    aug = AugmentConfig(cfg.augment.flip_prob if flip_prob is None else flip_prob)
    norm, valid, target = augment_batch(norm, valid, target, aug, gen)
    return norm, valid, target


def _as_detected(kp: torch.Tensor, face: torch.Tensor, cfg: WildConfig,
                 detector: DetectorModel, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A simulated detector's report of (B, 17, 2) H36M17 pixels (already in its joint
    definitions) with the (B, 4, 2) face points of :func:`face_points`: read in its layout
    (``cfg.mpii_style``, ``cfg.coco_style``, else Human3.6M's) and converted back to H36M17,
    cut at an image border, with its errors.  Returns (B, 17, 2) pixels, (B, 17) validity."""
    b = kp.shape[0]
    valid = torch.ones(b, 17, dtype=torch.bool)
    style = torch.rand(b, generator=gen)
    mpii = (style < cfg.mpii_style)
    coco = (style >= cfg.mpii_style) & (style < cfg.mpii_style + cfg.coco_style)
    if mpii.any():
        m_px = mpii_slot_meanings(kp[mpii], gen) if cfg.mpii_slots else kp[mpii]
        m_kp, m_ok = _through_layout(m_px, MPII16)
        kp, valid = kp.index_put((mpii,), m_kp), valid.index_put((mpii,), m_ok)
    if coco.any():
        c_px, c_ok = convert_layout(kp[coco], H36M17, COCO17)
        c_px[:, list(_FACE)] = face[coco]
        c_ok[:, list(_FACE)] = True
        c_kp, c_ok = convert_layout(c_px, COCO17, H36M17, c_ok)
        kp, valid = kp.index_put((coco,), c_kp), valid.index_put((coco,), c_ok)
    valid = cut_at_border(kp, valid, detector.cut_prob, gen)
    return detector_errors(kp, valid, detector, gen)


def real_camera_batch(views: CameraViews, rows: torch.Tensor, cfg: WildConfig,
                      gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3D-labelled samples of real camera views (``cfg.h36m_share``), mirrored as every
    sample.  A ``cfg.h36m_detector`` share of them is reported by the simulated detector
    (:func:`synthesize`'s, without body proportions): joint definitions and jitter moved in
    the camera's 3D frame, their shift projected through the camera's pinhole and added to
    the exact (distorted) pixels.  The others keep Human3.6M's definitions and layout, with
    2D noise up to ``cfg.h36m_noise_max`` of the person's size.

    Args:
        views: the loaded views (torch tensors or numpy arrays); rows: (B,) indices.
    Returns:
        ``(keypoints, valid, target)`` as :func:`synthesize` returns them.
    """
    def take(a) -> torch.Tensor:
        return torch.as_tensor(a)[rows]

    pixels, camera_3d = take(views.pixels), take(views.camera_3d)
    target = camera_3d - camera_3d[:, :1]
    kp, valid = detector_errors(pixels, torch.ones(pixels.shape[:2], dtype=torch.bool),
                                DetectorModel(0, 0, cfg.h36m_noise_max, 0, 0, 0, 0, 0), gen)
    # No draw at share 0: a recipe without it reproduces its model's random stream.
    seen = (torch.rand(len(rows), generator=gen) < cfg.h36m_detector
            if cfg.h36m_detector > 0 else torch.zeros(len(rows), dtype=torch.bool))
    if seen.any():
        detector = detector_model(cfg)
        body, f, c = camera_3d[seen], take(views.focal)[seen], take(views.centre)[seen]
        moved = move_joint_definitions(body, detector.definitions, gen, detector.ankles)
        if detector.jitter_mm > 0:
            moved = moved + torch.randn(moved.shape, generator=gen) * detector.jitter_mm
        # the lens distortion of the exact pixels, kept on the moved joints
        lens = pixels[seen] - camera_to_pixels(body, f, c, distortion=False)
        moved_px = camera_to_pixels(moved, f, c, distortion=False) + lens
        face = (camera_to_pixels(face_points(moved), f, c, distortion=False)
                + lens[:, [_J["Neck/Nose"]]])
        d_kp, d_ok = _as_detected(moved_px, face, cfg, detector, gen)
        kp, valid = kp.index_put((seen,), d_kp), valid.index_put((seen,), d_ok)
    norm, _, _ = normalize_2d(kp, valid, root=H36M17.root)
    return augment_batch(norm, valid, target, AugmentConfig(cfg.augment.flip_prob), gen)


def two_d_batch(keypoints: torch.Tensor, valid: torch.Tensor, cfg: WildConfig,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """2D-only samples, augmented: limb proportions (bone factors as for 3D samples, on
    poses whose limbs are all present), mirror, and dropped joints and limbs.

    Args:
        keypoints: (B, 17, 2) H36M17 pixels (0 where missing); valid: (B, 17) bool.
    Returns:
        (B, 17, 2) normalized keypoints and (B, 17) validity.
    """
    b = keypoints.shape[0]
    if cfg.bone_scale > 0:
        factors = random_bone_factors(b, cfg.bone_scale, gen)
        whole = valid[:, _LIMB_JOINTS].all(1, keepdim=True)
        factors = torch.where(_LIMB_BONES & whole, factors, torch.ones_like(factors))
        keypoints = rescale_bones(keypoints, factors)
    norm, _, _ = normalize_2d(keypoints, valid, root=H36M17.root)
    aug = replace(cfg.augment, noise_max=0.0)
    norm, valid, _ = augment_batch(norm, valid, None, aug, gen)
    return norm, valid
