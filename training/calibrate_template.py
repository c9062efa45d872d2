"""Re-measure the alignment template and canonical shape on FER2013 (how app/face/align.py's numbers were made).

python -m training.calibrate_template --data ../shared/data/fer2013.npz
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from app.face.align import _SHAPE_FILE, ANCHOR_INDICES, ANCHOR_WEIGHTS, TEMPLATE, similarity_transform
from app.face.mesh import FaceMesh
from training.data.prepare import upscale_crop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data/fer2013.npz")
    ap.add_argument("--count", type=int, default=2500)
    ap.add_argument("--write-shape", action="store_true", help="overwrite app/face/canonical_shape.npy")
    args = ap.parse_args()
    d = np.load(args.data)
    sel = np.where(d["split"] == "train")[0][::10][: args.count]
    mesh = FaceMesh(max_faces=1, video_mode=False, min_confidence=0.3)
    shapes = []
    for img in tqdm(d["images"][sel], desc="face mesh"):
        big, scale, pad = upscale_crop(img)
        faces = mesh.process(big)
        if faces:
            p = faces[0].landmarks.copy()
            p[:, :2] -= pad
            shapes.append(p / (scale * img.shape[1]))
    pts = np.array(shapes, np.float32)
    print(f"found {len(pts)}/{len(sel)}")
    print("median anchors:\n", np.round(np.median(pts[:, list(ANCHOR_INDICES), :2], axis=0), 4))
    aligned = []
    for p in pts:
        m = similarity_transform(p[list(ANCHOR_INDICES), :2], TEMPLATE, ANCHOR_WEIGHTS)
        xy = p[:, :2] @ m[:, :2].T + m[:, 2]
        aligned.append(np.hstack([xy, p[:, 2:3] * np.sqrt(abs(np.linalg.det(m[:, :2])))]))
    mean = np.mean(aligned, axis=0).astype(np.float32)
    if args.write_shape:
        np.save(_SHAPE_FILE, mean)
        print("wrote", _SHAPE_FILE)


if __name__ == "__main__":
    main()
