#!/usr/bin/env python3
"""Build the small real stereo pairs in this folder from the original files.

Usage
-----
    python make.py --middlebury-0103 DIR --middlebury-2005 DIR [--middlebury-ddl DIR]
                   [--out DIR] [--pairs NAME ...]

As run for this folder:
    python make.py --middlebury-0103 SRC1/testdata --middlebury-2005 SRC2/samples/data/middlebury2005_dataset_ex \
        --middlebury-ddl SRC4

DIR arguments (the originals, unmodified, as taken from the repositories named in README.md):

--middlebury-0103   a folder holding tsukuba/{im3.png,im4.png,disp3.pgm},
                    venus/{im2.png,im6.png,disp2.pgm}, teddy/{im2.png,im6.png,disp2.png},
                    cones/{im2.png,im6.png,disp2.png}
                    (fjordyo0707/StereoMatching-CostFilter, folder testdata/)
--middlebury-2005   a folder holding art/{view1.png,view5.png,disp1.png} and
                    dolls/{view1.png,view5.png,disp1.png}
                    (plstcharles/litiv, folder samples/data/middlebury2005_dataset_ex/)
--middlebury-ddl    the root of Homay0118/DDL_demo (commit 69cc478b5634234646a1c06ec674be84e130493c),
                    holding MiddEval2/{sawtooth,barn1,barn2,poster}/{im2.ppm,im6.ppm,disp2.pgm}
                    (Middlebury 2001), MiddEval2/{Laundry,Moebius}/{view1.png,view5.png,disp1.png}
                    (Middlebury 2005, third size), MiddEval3/trainingQ/<Scene>/{im0.png,im1.png,calib.txt}
                    and MiddEval3GT/trainingQ/<Scene>/{disp0GT.pfm,mask0nocc.png} (Middlebury 2014 /
                    MiddEval3 quarter-size training data). Only the files named in PAIRS, NONOCC_MASKS and
                    RECORDED are read; optional (pairs from it are skipped without it)

For every pair it writes <out>/<name>/left.png, right.png (8-bit grey) and disparity.png
(16-bit, disparity in pixels at the stored scale times 256, 0 = unknown), and prints and
writes <out>/stats.json with the numbers quoted in README.md.

Processing
----------
* The ground truth of each original is decoded with its dataset's documented convention
  (value / scale, 0 = unknown; see PAIRS below). MiddEval3 ground truth (kind "pfm") is a
  little-endian float PFM (negative scale in the header) stored bottom row first: it is
  flipped to top-down order, disparity = value / 1 in pixels at that resolution, and
  non-finite values (inf) = unknown.
* Trailing rows/columns are cut so that the size is a multiple of the integer factor f (the
  cut is at the right/bottom, so x coordinates and disparities are unchanged).
* Images: colour -> float, area averaging by f (cv2.INTER_AREA, exact f x f block means),
  then converted to grey (cv2.COLOR_BGR2GRAY weights) and rounded to uint8.
* Disparity: block mean of the f x f source disparities divided by f; a stored pixel is
  unknown (0) if any source pixel under it is unknown. Stored as round(d * 256) in uint16.
* Check: the right image is sampled at x - d (linear interpolation) for every known pixel
  whose match lies inside the image; the mean absolute grey difference is compared with the
  one at zero disparity on the same pixels, and the GT scale factor is scanned to show that
  the documented one gives the smallest error.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

import cv2
import numpy as np

# name: (source key, left, right, gt, gt kind, gt scale, factor f)
PAIRS = {
    "tsukuba": ("middlebury-0103", "tsukuba/im3.png", "tsukuba/im4.png", "tsukuba/disp3.pgm", "png8", 16, 2),
    "venus": ("middlebury-0103", "venus/im2.png", "venus/im6.png", "venus/disp2.pgm", "png8", 8, 2),
    "cones": ("middlebury-0103", "cones/im2.png", "cones/im6.png", "cones/disp2.png", "png8", 4, 2),
    "teddy": ("middlebury-0103", "teddy/im2.png", "teddy/im6.png", "teddy/disp2.png", "png8", 4, 2),
    "art": ("middlebury-2005", "art/view1.png", "art/view5.png", "art/disp1.png", "png8", 3, 2),
    "dolls": ("middlebury-2005", "dolls/view1.png", "dolls/view5.png", "dolls/disp1.png", "png8", 3, 2),
    # Middlebury 2001 (scale 8 like venus), from Homay0118/DDL_demo.
    "sawtooth": ("middlebury-ddl", "MiddEval2/sawtooth/im2.ppm", "MiddEval2/sawtooth/im6.ppm", "MiddEval2/sawtooth/disp2.pgm", "png8", 8, 2),
    "barn1": ("middlebury-ddl", "MiddEval2/barn1/im2.ppm", "MiddEval2/barn1/im6.ppm", "MiddEval2/barn1/disp2.pgm", "png8", 8, 2),
    "barn2": ("middlebury-ddl", "MiddEval2/barn2/im2.ppm", "MiddEval2/barn2/im6.ppm", "MiddEval2/barn2/disp2.pgm", "png8", 8, 2),
    "poster": ("middlebury-ddl", "MiddEval2/poster/im2.ppm", "MiddEval2/poster/im6.ppm", "MiddEval2/poster/disp2.pgm", "png8", 8, 2),
    # Middlebury 2005, third size (scale 3 like art/dolls).
    "laundry": ("middlebury-ddl", "MiddEval2/Laundry/view1.png", "MiddEval2/Laundry/view5.png", "MiddEval2/Laundry/disp1.png", "png8", 3, 2),
    "moebius": ("middlebury-ddl", "MiddEval2/Moebius/view1.png", "MiddEval2/Moebius/view5.png", "MiddEval2/Moebius/disp1.png", "png8", 3, 2),
}
# Middlebury 2014 (MiddEval3 trainingQ, quarter size), float PFM ground truth, reduced by 3.
for _scene in ("Adirondack", "Piano", "Pipes", "Playroom", "Playtable", "Recycle", "Shelves", "Vintage"):
    PAIRS[_scene.lower()] = ("middlebury-ddl", f"MiddEval3/trainingQ/{_scene}/im0.png", f"MiddEval3/trainingQ/{_scene}/im1.png",
                             f"MiddEval3GT/trainingQ/{_scene}/disp0GT.pfm", "pfm", 1, 3)

# Non-occlusion masks (255 = visible in both views) used only for an extra warp check in stats.json.
NONOCC_MASKS = {PAIRS[n][3].split("/")[2].lower(): PAIRS[n][3].replace("disp0GT.pfm", "mask0nocc.png")
                for n in PAIRS if PAIRS[n][4] == "pfm"}
# The calibration of each 2014 pair (its doffs shifts the right image; see make_pair).
RECORDED = {n: {"calib": PAIRS[n][1].replace("im0.png", "calib.txt")} for n in PAIRS if PAIRS[n][4] == "pfm"}


def git_blob_sha1(path: str) -> str:
    """The id git gives the file's content (matches `git ls-tree` of the source repository)."""
    with open(path, "rb") as fh:
        data = fh.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_doffs(path: str) -> float:
    """The ``doffs`` entry of a Middlebury 2014 ``calib.txt``: the x-difference of the two
    cameras' principal points, in pixels at that resolution."""
    with open(path) as fh:
        fields = dict(line.split("=", 1) for line in fh if "=" in line)
    return float(fields[next(k for k in fields if k.strip() == "doffs")])


def read_pfm(path: str) -> np.ndarray:
    """Grey PFM ("Pf"), rows returned top-down (the file stores the bottom row first)."""
    with open(path, "rb") as fh:
        if fh.readline().strip() != b"Pf":
            raise ValueError(f"{path}: not a grey PFM")
        w, h = (int(v) for v in fh.readline().split())
        endian_scale = float(fh.readline())
        data = np.frombuffer(fh.read(), dtype="<f4" if endian_scale < 0 else ">f4")
    if data.size != w * h:
        raise ValueError(f"{path}: {data.size} values for {w} x {h}")
    return data.reshape(h, w)[::-1].astype(np.float64)


def read_gt(path: str, kind: str, scale: float):
    if kind == "pfm":
        raw = read_pfm(path)
        valid = np.isfinite(raw) & (raw > 0)
        disp = np.where(valid, raw / scale, 0.0)
        return raw, disp, valid
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FileNotFoundError(path)
    if raw.ndim == 3:  # some PGM/PNG readers give 3 identical channels
        raw = raw[..., 0]
    if kind == "png8" and raw.dtype != np.uint8:
        raise ValueError(f"{path}: expected 8-bit ground truth, got {raw.dtype}")
    valid = raw > 0
    disp = np.where(valid, raw.astype(np.float64) / scale, 0.0)
    return raw, disp, valid


def to_grey(bgr_float: np.ndarray) -> np.ndarray:
    if bgr_float.ndim == 2:
        return bgr_float
    return cv2.cvtColor(bgr_float.astype(np.float32), cv2.COLOR_BGR2GRAY).astype(np.float64)


def warp_error(left: np.ndarray, right: np.ndarray, disp: np.ndarray, valid: np.ndarray):
    """Mean |left(x) - right(x - d)| over known pixels whose match is inside the image,
    and the same mean at zero disparity on the same pixels."""
    h, w = left.shape
    xs = np.arange(w)[None, :].repeat(h, 0).astype(np.float64)
    xr = xs - disp
    ok = valid & (xr >= 0) & (xr <= w - 1)
    ys = np.nonzero(ok)[0]
    x = xr[ok]
    x0 = np.floor(x).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    a = x - x0
    sampled = (1 - a) * right[ys, x0] + a * right[ys, x1]
    e_gt = np.abs(left[ok] - sampled)
    e_zero = np.abs(left[ok] - right[ok])
    return float(e_gt.mean()), float(np.median(e_gt)), float(e_zero.mean()), int(ok.sum())


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[:2]
    return a.reshape(h // f, f, w // f, f, *a.shape[2:]).mean(axis=(1, 3))


def _convention_checks(name, root, paths, left, right, raw, disp, valid, scale, kind):
    """The warp checks at the original resolution: with the decoded disparity, with the scale
    factor scanned, with the wrong sign and (2014 pairs) on the non-occluded pixels; adds the
    non-occlusion mask to ``paths`` when there is one."""
    gl, gr = to_grey(left), to_grey(right)
    checks = {"original": warp_error(gl, gr, disp, valid),
              "wrong_sign": warp_error(gl, gr, -disp, valid)[0],  # x_right = x_left + d
              "scan": {}, "nonocc": None, "rows_not_flipped": None}
    for s in sorted({scale * m for m in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)} | ({2, 3, 4, 8, 16} if kind == "png8" else set())):
        checks["scan"][f"{s:g}"] = round(warp_error(gl, gr, np.where(valid, raw / s, 0.0), valid)[0], 3)
    if name in NONOCC_MASKS:  # same check on the pixels the dataset marks as visible in both views
        paths["nonocc_mask"] = os.path.join(root, NONOCC_MASKS[name])
        m = cv2.imread(paths["nonocc_mask"], cv2.IMREAD_UNCHANGED)
        assert m.shape == raw.shape, (m.shape, raw.shape)
        nv = valid & (m == 255)
        checks["nonocc"] = warp_error(gl, gr, disp, nv) + (float(nv.mean()),)
        checks["rows_not_flipped"] = warp_error(gl, gr, disp[::-1], valid[::-1])[0]  # orientation
    return checks


def _shift_by_doffs(right, disp, valid, calib):
    """Middlebury 2014: the two cameras' principal points differ by doffs (calib.txt), so
    depth is baseline * f / (d + doffs). Shift the right image left by doffs, as
    depthlab.real.load_motorcycle does: both cameras then share one principal point, the
    flow is d + doffs, and relative depth is 1 / (d + doffs), as for the other pairs."""
    doffs = read_doffs(calib)
    shift = np.float64([[1, 0, -doffs], [0, 1, 0]])
    right = cv2.warpAffine(right, shift, right.shape[1::-1], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return right, np.where(valid, disp + doffs, 0.0), doffs


def _reduce(left, right, disp, valid, f):
    """Area-average by f (the size a multiple of f): grey uint8 images and the uint16
    disparity."""
    h, w = valid.shape
    small_l = cv2.resize(left.astype(np.float32), (w // f, h // f), interpolation=cv2.INTER_AREA)
    small_r = cv2.resize(right.astype(np.float32), (w // f, h // f), interpolation=cv2.INTER_AREA)
    gl_s = np.clip(np.rint(to_grey(small_l.astype(np.float64))), 0, 255).astype(np.uint8)
    gr_s = np.clip(np.rint(to_grey(small_r.astype(np.float64))), 0, 255).astype(np.uint8)
    valid_s = block_mean(valid.astype(np.float64), f) == 1.0
    disp_s = np.where(valid_s, block_mean(disp, f) / f, 0.0)
    stored = np.where(valid_s, np.clip(np.rint(disp_s * 256), 1, 65535), 0).astype(np.uint16)
    return gl_s, gr_s, stored


def _write_and_check(folder, left, right, stored):
    """Write the pair's three PNGs and check them as a reader would see them: the stored
    disparity and its known mask, the warp check, and the files' size in bytes."""
    os.makedirs(folder, exist_ok=True)
    png = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    for file, image in (("left.png", left), ("right.png", right), ("disparity.png", stored)):
        cv2.imwrite(os.path.join(folder, file), image, png)
    L = cv2.imread(os.path.join(folder, "left.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    R = cv2.imread(os.path.join(folder, "right.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    D = cv2.imread(os.path.join(folder, "disparity.png"), cv2.IMREAD_UNCHANGED)
    assert D.dtype == np.uint16
    V = D > 0
    Dp = D.astype(np.float64) / 256.0
    size = sum(os.path.getsize(os.path.join(folder, f_)) for f_ in ("left.png", "right.png", "disparity.png"))
    return D, V, warp_error(L, R, Dp, V), Dp[V], size


def make_pair(name: str, root: str, out: str) -> dict:
    _, lp, rp, gp, kind, scale, f = PAIRS[name]
    paths = {k: os.path.join(root, p) for k, p in (("left", lp), ("right", rp), ("gt", gp))}
    left = cv2.imread(paths["left"], cv2.IMREAD_UNCHANGED).astype(np.float64)
    right = cv2.imread(paths["right"], cv2.IMREAD_UNCHANGED).astype(np.float64)
    raw, disp, valid = read_gt(paths["gt"], kind, scale)
    assert left.shape[:2] == right.shape[:2] == raw.shape, (left.shape, right.shape, raw.shape)
    checks = _convention_checks(name, root, paths, left, right, raw, disp, valid, scale, kind)
    for k, p in RECORDED.get(name, {}).items():
        paths[k] = os.path.join(root, p)
    doffs = None
    if kind == "pfm":
        right, disp, doffs = _shift_by_doffs(right, disp, valid, paths["calib"])
    h, w = valid.shape
    h, w = h - h % f, w - w % f  # cut at the right and bottom: x and disparities unchanged
    left, right, disp, valid = left[:h, :w], right[:h, :w], disp[:h, :w], valid[:h, :w]
    D, V, e_small, known, size = _write_and_check(os.path.join(out, name),
                                                  *_reduce(left, right, disp, valid, f))
    e_orig, e_nonocc = checks["original"], checks["nonocc"]
    return {
        "name": name,
        "sources": {k: {"path": paths[k], "git_blob_sha1": git_blob_sha1(paths[k])} for k in paths},
        "gt_decoding": f"disparity = value / {scale:g}, value 0 = unknown ({kind})",
        "doffs_original_px": doffs,
        "original_size_wh": [raw.shape[1], raw.shape[0]],
        "downsize_factor": f,
        "stored_size_wh": [int(D.shape[1]), int(D.shape[0])],
        "stored_bytes": size,
        "disparity_px_stored_scale": {"min": float(known.min()), "max": float(known.max()),
                                      "median": float(np.median(known))},
        "gt_fraction_stored": float(V.mean()),
        "gt_fraction_original": float(valid.mean()),
        "warp_check_original": {"mae_gt": e_orig[0], "median_ae_gt": e_orig[1], "mae_zero_disp": e_orig[2],
                                "mae_wrong_sign": checks["wrong_sign"], "pixels": e_orig[3]},
        "warp_check_stored": {"mae_gt": e_small[0], "median_ae_gt": e_small[1], "mae_zero_disp": e_small[2],
                              "pixels": e_small[3]},
        "gt_scale_scan_mae": checks["scan"],
        **({"warp_check_original_nonocc": {"mae_gt": e_nonocc[0], "median_ae_gt": e_nonocc[1],
                                            "mae_zero_disp": e_nonocc[2], "pixels": e_nonocc[3],
                                            "nonocc_fraction": e_nonocc[4]},
            "warp_check_original_pfm_rows_not_flipped_mae": checks["rows_not_flipped"]}
           if e_nonocc is not None else {}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--middlebury-0103", required=True)
    ap.add_argument("--middlebury-2005", required=True)
    ap.add_argument("--middlebury-ddl", default=None)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--pairs", nargs="*", default=None, help="only these pair names (default: all with a source)")
    args = ap.parse_args()
    roots = {"middlebury-0103": args.middlebury_0103, "middlebury-2005": args.middlebury_2005,
             "middlebury-ddl": args.middlebury_ddl}
    stats = []
    for name, spec in PAIRS.items():
        if args.pairs is not None and name not in args.pairs:
            continue
        root = roots[spec[0]]
        if root is None:
            print(f"skip {name}: no --{spec[0]}")
            continue
        s = make_pair(name, root, args.out)
        stats.append(s)
        w = s["warp_check_stored"]
        r = s["disparity_px_stored_scale"]
        print(f"{name:18s} {s['original_size_wh']} -> {s['stored_size_wh']} {s['stored_bytes']/1024:.0f} KiB "
              f"d=[{r['min']:.2f}, {r['max']:.2f}] med {r['median']:.2f} GT {100*s['gt_fraction_stored']:.1f}% "
              f"MAE gt {w['mae_gt']:.2f} vs zero {w['mae_zero_disp']:.2f} | scan {s['gt_scale_scan_mae']}")
    with open(os.path.join(args.out, "stats.json"), "w") as fh:
        json.dump(stats, fh, indent=1)


if __name__ == "__main__":
    main()
