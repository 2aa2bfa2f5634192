"""Findings drawn on the normal chest, each returning where it is (pixel boxes).

A finding acts in one or two phases: :func:`adjust` changes the patient before the layers are
drawn (heart size, volume loss, a broken rib), :func:`draw` edits the layers afterwards and
measures the box from what it drew, so a box is always where its finding is. Each finding
draws from its own random stream, so adding one finding never moves another. Imports no
Django.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from inference.datasets.phantom.anatomy import (
    CARINA_V,
    F32,
    HILUM,
    LUNG_LATERAL,
    AnatomyParams,
    Geometry,
    Layers,
    RibBreak,
    diaphragm,
    lung_lateral,
    posterior_rib_curve,
    smoothstep,
)
from inference.datasets.phantom.spec import (
    Box,
    FindingKind,
    FindingSpec,
    Laterality,
    Severity,
)

_LEVEL = {Severity.MILD: 0, Severity.MODERATE: 1, Severity.SEVERE: 2}


def image_side(laterality: Laterality | None) -> tuple[int, ...]:
    """Image sides (-1 left, +1 right) of a patient laterality: the patient's right is left."""
    if laterality == Laterality.RIGHT:
        return (-1,)
    if laterality == Laterality.LEFT:
        return (1,)
    return (-1, 1)


def box_of(mask: NDArray[np.bool_]) -> Box | None:
    """Tight box of the true pixels, or ``None`` when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _boxes(masks: list[NDArray[np.bool_]]) -> tuple[Box, ...]:
    return tuple(box for box in (box_of(m) for m in masks) if box is not None)


def _mm_to_v(params: AnatomyParams, mm: float) -> float:
    return mm / params.pixel_spacing_mm / params.geometry.height


def _mm_to_u(params: AnatomyParams, mm: float) -> float:
    return mm / params.pixel_spacing_mm / params.geometry.half_width


# --- phase 1: the patient -------------------------------------------------------------------


def adjust(params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator) -> AnatomyParams:
    """The patient as this finding changes it (unchanged for most findings)."""
    level = _LEVEL[finding.severity]
    if finding.kind == FindingKind.CARDIOMEGALY:
        ctr = (0.55, 0.61, 0.68)[level] + rng.uniform(-0.015, 0.015)
        return replace(params, ctr=float(ctr))
    if finding.kind == FindingKind.ATELECTASIS:
        lift = (0.02, 0.045, 0.08)[level]
        right, left = params.dome
        sides = image_side(finding.laterality)
        right -= lift if -1 in sides else 0.0
        left -= lift if 1 in sides else 0.0
        shift = params.shift + (0.0 if len(sides) == 2 else sides[0] * (0.0, 0.01, 0.03)[level])
        return replace(params, dome=(right, left), shift=shift)
    if finding.kind == FindingKind.RIB_FRACTURE:
        broken = RibBreak(
            side=image_side(finding.laterality)[0],
            index=int(rng.integers(3, 8)),
            a=float(rng.uniform(0.55, 0.80)),
            step=(0.06, 0.12, 0.22)[level],
            gap=float(rng.uniform(0.008, 0.014)) * (1.0 + 0.5 * level),
        )
        return replace(params, rib_break=broken)
    return params


# --- phase 2: the drawing -------------------------------------------------------------------


def _effusion(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    level = _LEVEL[finding.severity]
    masks = []
    ev = 2.0 / params.geometry.height
    for side in image_side(finding.laterality):
        dome = params.dome[0] if side < 0 else params.dome[1]
        depth = (0.10, 0.26, 0.45)[level] * rng.uniform(0.85, 1.15)
        # The meniscus: fluid climbs higher along the lateral chest wall.
        surface = (1.0 - depth) + 0.22 * np.sqrt(
            np.clip((LUNG_LATERAL - layers.a) / LUNG_LATERAL, 0.0, 1.0)
        )
        in_chest = (layers.side == side) & (layers.a < lung_lateral(layers.v) + 0.02)
        fluid = smoothstep(layers.v - surface, ev * 3) * in_chest
        fluid = fluid * smoothstep(diaphragm(layers.a, dome) + 0.06 - layers.v, ev * 3)
        masks.append((fluid > 0.5) & (layers.lung > 0.3))
        dense = fluid * (0.75 + 0.25 * smoothstep(layers.v - surface - 0.08, 0.16))
        layers.air -= layers.air * dense
        layers.vessels *= 1.0 - 0.8 * fluid
        layers.extra += 0.12 * dense * (layers.lung > 0.05)
    return _boxes(masks)


def _pneumothorax(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    level = _LEVEL[finding.severity]
    (side,) = image_side(finding.laterality)
    width = (0.10, 0.20, 0.34)[level] * rng.uniform(0.9, 1.1)
    bottom = (0.55, 0.80, 1.05)[level]
    v = layers.v
    envelope = np.sqrt(np.clip(1.0 - ((v - bottom / 2) / (bottom / 2 + 0.05)) ** 2, 0.0, 1.0))
    pleura = lung_lateral(v) - width * envelope
    apex = 1.3 * (layers.a - 0.40) ** 2 - 0.03 + 0.6 * width
    eu = 1.5 / params.geometry.half_width
    outer = np.maximum(smoothstep(layers.a - pleura, eu), smoothstep(apex - v, eu * 0.7))
    outer = outer * smoothstep(bottom - v, 0.03) * (layers.side == side)
    region = outer * layers.lung
    # The visceral pleural line: a thin bright edge where the lung stops.
    line = 4.0 * outer * (1.0 - outer) * smoothstep(layers.lung - 0.5, 0.5)
    layers.vessels *= 1.0 - region
    layers.air += 0.04 * region * params.thickness
    collapsed = smoothstep(pleura - layers.a, 0.12) * (layers.side == side) * layers.lung
    layers.extra += 0.05 * collapsed * smoothstep(bottom - v, 0.05) * (level / 2) + 0.10 * line
    return _boxes([(region > 0.5)])


def _consolidation(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    level = _LEVEL[finding.severity]
    g = params.geometry
    masks = []
    canvas = Image.new("L", (g.cols, g.rows), 0)
    draw = ImageDraw.Draw(canvas)
    patches = []
    for side in image_side(finding.laterality):
        centre_a = float(rng.uniform(0.45, 0.70))
        centre_v = float(rng.choice([0.28, 0.55, 0.78]) + rng.uniform(-0.04, 0.04))
        radius = (0.13, 0.20, 0.28)[level] * rng.uniform(0.9, 1.1)
        texture = _texture(rng, (g.rows, g.cols), 14 + 4 * level)
        ru, rv = radius, radius * g.half_width / g.height
        r2 = ((layers.a - centre_a) / ru) ** 2 + ((layers.v - centre_v) / rv) ** 2
        # Compact support: nothing beyond r2 = 1, so the box holds the whole opacity.
        envelope = np.clip(1.8 * (1.0 - r2), 0.0, 1.0)
        patch = np.clip(envelope * (0.6 + 1.0 * texture), 0.0, 1.0)
        patch = patch * (layers.side == side) * layers.lung
        patches.append(patch)
        masks.append(patch > 0.08)
        # Air bronchograms: branching airways that stay dark inside the opacity.
        hu = params.shift + side * HILUM[0]
        for k in range(3 + level):
            angle = math.atan2(centre_v - HILUM[1], centre_a - HILUM[0]) + rng.uniform(-0.4, 0.4)
            length = radius * (1.2 + 0.4 * k / 3)
            tip_u = hu + side * math.cos(angle) * length * 1.6
            tip_v = HILUM[1] + math.sin(angle) * length * 1.6 * g.half_width / g.height
            start = g.to_pixel(params.shift + side * (centre_a - radius * 0.6), centre_v)
            draw.line([start, g.to_pixel(tip_u, tip_v)], fill=255, width=max(1, g.rows // 300))
    patch_all = np.maximum.reduce(patches) if len(patches) > 1 else patches[0]
    bronchi = np.asarray(canvas, dtype=np.float32) * (1.0 / 255.0)
    layers.air -= layers.air * 0.85 * patch_all * (1.0 - 0.6 * bronchi)
    layers.extra += 0.04 * patch_all
    return _boxes(masks)


def _texture(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> F32:
    small = rng.random((cells, cells), dtype=np.float32)
    image = Image.fromarray(small, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) - 0.5


def _lesion(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    level = _LEVEL[finding.severity]
    g = params.geometry
    sizes = (8.0, 15.0, 25.0) if finding.kind == FindingKind.NODULE else (38.0, 52.0, 70.0)
    radius = sizes[level] * rng.uniform(0.9, 1.1) / 2 / params.pixel_spacing_mm  # px
    (side,) = image_side(finding.laterality)
    # Somewhere well inside the lung (a few deterministic tries).
    cx, cy = g.to_pixel(params.shift + side * 0.6, 0.45)
    for _ in range(30):
        a = float(rng.uniform(0.30, 0.80))
        v = float(rng.uniform(0.15, 0.80))
        x, y = g.to_pixel(params.shift + side * a, v)
        xi, yi = int(x), int(y)
        inside = 0 <= yi < g.rows and 0 <= xi < g.cols
        if inside and layers.lung[yi, xi] > 0.95 and layers.heart[yi, xi] < 0.05:
            cx, cy = x, y
            break
    extent = int(radius * 1.3) + 2
    y0, y1 = max(0, int(cy) - extent), min(g.rows, int(cy) + extent + 1)
    x0, x1 = max(0, int(cx) - extent), min(g.cols, int(cx) + extent + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - np.float32(cy), xx - np.float32(cx)
    theta = np.arctan2(dy, dx)
    lobes = 0.07 * level if finding.kind == FindingKind.MASS else 0.03
    r = radius * (1.0 + lobes * np.sin(3 * theta + rng.uniform(0, 6.3)))
    rho2 = (dx * dx + dy * dy) / (r * r)
    ball = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0)) * smoothstep(1.0 - rho2, 3.0 / radius)
    density = min(0.75, 0.12 + 2.0 * radius * params.pixel_spacing_mm / 200.0)
    window = layers.extra[y0:y1, x0:x1]
    window += density * ball
    layers.air[y0:y1, x0:x1] *= 1.0 - 0.5 * ball
    return _boxes([_full_mask((g.rows, g.cols), (y0, x0), ball > 0.05)])


def _full_mask(
    shape: tuple[int, int], origin: tuple[int, int], local: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    out = np.zeros(shape, dtype=bool)
    out[origin[0] : origin[0] + local.shape[0], origin[1] : origin[1] + local.shape[1]] = local
    return out


def _edema(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    level = _LEVEL[finding.severity]
    g = params.geometry
    strength = (0.30, 0.50, 0.72)[level]
    spread = (0.20, 0.26, 0.33)[level]
    r2 = ((layers.a - HILUM[0] - 0.05) / (1.6 * spread)) ** 2 + (
        (layers.v - HILUM[1] - 0.08) / (2.4 * spread)
    ) ** 2
    haze = np.clip(1.0 - r2, 0.0, 1.0) ** 1.5  # perihilar, nothing beyond r2 = 1
    haze = haze * (0.8 + 0.5 * _texture(rng, (g.rows, g.cols), 18)) * layers.lung
    haze = np.clip(strength * haze, 0.0, 1.0)
    layers.air -= layers.air * haze
    layers.extra += 0.03 * haze
    if level > 0:
        # Kerley B lines: short horizontal septal lines at the lateral bases.
        canvas = Image.new("L", (g.cols, g.rows), 0)
        draw = ImageDraw.Draw(canvas)
        for side in (-1, 1):
            for _ in range(5 + 4 * level):
                a = float(rng.uniform(0.80, 0.92))
                v = float(rng.uniform(0.70, 0.93))
                length = _mm_to_u(params, float(rng.uniform(10.0, 20.0)))
                draw.line(
                    [
                        g.to_pixel(params.shift + side * a, v),
                        g.to_pixel(params.shift + side * (a - length), v),
                    ],
                    fill=255,
                    width=1,
                )
        layers.extra += 0.08 * np.asarray(canvas, dtype=np.float32) / 255.0 * layers.lung
    cut = haze > 0.03 * strength
    return _boxes([cut & (layers.side == side) for side in (-1, 1)])


def _atelectasis(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    level = _LEVEL[finding.severity]
    masks = []
    thick = _mm_to_v(params, (3.0, 5.0, 8.0)[level])
    for side in image_side(finding.laterality):
        dome = params.dome[0] if side < 0 else params.dome[1]
        v0 = dome - rng.uniform(0.10, 0.18)
        slope = rng.uniform(-0.10, 0.05)
        centre = v0 + slope * (layers.a - 0.5)
        span = smoothstep(layers.a - 0.30, 0.06) * smoothstep(0.85 - layers.a, 0.06)
        band = np.exp(-(((layers.v - centre) / thick) ** 2)) * span
        band = band * (layers.side == side) * layers.lung
        if level == 2:
            # Basal collapse: a wedge of airless lung above the (lifted) dome.
            wedge = smoothstep(layers.v - diaphragm(layers.a, dome) + 0.09, 0.05)
            band = np.maximum(band, 0.8 * wedge * (layers.side == side) * layers.lung)
        masks.append(band > 0.35)
        layers.air -= layers.air * 0.85 * band
        layers.extra += 0.05 * band
    return _boxes(masks)


def _rib_fracture(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    broken = params.rib_break
    if broken is None:
        raise ValueError("a rib fracture needs adjust() before draw()")
    # Centre of rib ``index`` at the break: invert rib_coordinate for index + half a band.
    target = (broken.index + 0.21) * params.rib_spacing
    d = (1.0 - math.sqrt(max(0.0, 1.0 - 0.4 * target))) / 0.2
    v = params.rib_phase + d + float(posterior_rib_curve(broken.a))
    g = params.geometry
    x, y = g.to_pixel(params.shift + broken.side * broken.a, v)
    hx = max(4.0, 0.06 * g.half_width)
    hy = max(4.0, 0.6 * params.rib_spacing * g.height)
    box = Box(
        max(0, int(x - hx)),
        max(0, int(y - hy)),
        min(g.cols, math.ceil(x + hx)),
        min(g.rows, math.ceil(y + hy)),
    )
    return (box,)


# --- support devices ------------------------------------------------------------------------


def _bezier(points: list[tuple[float, float]], n: int = 24) -> list[tuple[float, float]]:
    """Points on the Bezier curve with these control points (image pixels)."""
    out = []
    for i in range(n + 1):
        t = i / n
        pts = list(points)
        while len(pts) > 1:
            pts = [
                (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)
                for p, q in itertools.pairwise(pts)
            ]
        out.append(pts[0])
    return out


def _device(
    layers: Layers, g: Geometry, paint: Callable[[ImageDraw.ImageDraw], None], density: float
) -> tuple[Box, ...]:
    canvas = Image.new("L", (g.cols, g.rows), 0)
    paint(ImageDraw.Draw(canvas))
    drawn = np.asarray(canvas, dtype=np.float32) * (1.0 / 255.0)
    layers.extra += density * drawn
    return _boxes([drawn > 0.2])


def _endotracheal_tube(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    g = params.geometry
    tip = CARINA_V - _mm_to_v(params, float(rng.uniform(35.0, 60.0)))
    radius = _mm_to_u(params, 4.0)
    px = max(1, round(g.rows / 400))

    def paint(draw: ImageDraw.ImageDraw) -> None:
        for offset, shade, width in (
            (-radius, 110, px),
            (radius, 110, px),
            (-0.5 * radius, 255, 2 * px),
        ):
            top = g.to_pixel(params.shift + offset, -1.2)
            end = g.to_pixel(params.shift + offset + 0.01 * tip, tip)
            draw.line([top, end], fill=shade, width=width)

    return _device(layers, g, paint, 0.35)


def _central_line(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    g = params.geometry
    (side,) = image_side(finding.laterality)
    s = params.shift
    control = [
        g.to_pixel(s + side * 0.34, -0.45),
        g.to_pixel(s + side * 0.16, -0.05),
        g.to_pixel(s - 0.08, 0.10),
        g.to_pixel(s - 0.07, float(rng.uniform(0.40, 0.50))),
    ]
    width = max(2, round(g.rows / 250))

    def paint(draw: ImageDraw.ImageDraw) -> None:
        draw.line(_bezier(control), fill=255, width=width, joint="curve")

    return _device(layers, g, paint, 0.45)


def _pacemaker(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    g = params.geometry
    (side,) = image_side(finding.laterality)
    s = params.shift
    gx, gy = g.to_pixel(s + side * float(rng.uniform(0.55, 0.68)), float(rng.uniform(0.0, 0.08)))
    hw = 22.0 / params.pixel_spacing_mm
    hh = 18.0 / params.pixel_spacing_mm
    ra = g.to_pixel(s - 0.10, 0.60)
    rv = g.to_pixel(s + 0.55 * params.ctr, 0.82)
    width = max(2, round(g.rows / 250))

    def paint(draw: ImageDraw.ImageDraw) -> None:
        start = (gx - side * hw * 0.6, gy - hh * 0.2)
        vein = g.to_pixel(s + side * 0.15, 0.02)
        svc = g.to_pixel(s - 0.07, 0.35)
        draw.line(_bezier([start, vein, svc, ra]), fill=230, width=width, joint="curve")
        draw.line(
            _bezier([start, vein, svc, g.to_pixel(s - 0.05, 0.75), rv]),
            fill=230,
            width=width,
            joint="curve",
        )
        draw.rounded_rectangle([gx - hw, gy - hh, gx + hw, gy + hh], radius=hh * 0.6, fill=255)

    return _device(layers, g, paint, 1.1)


_DRAW: dict[
    FindingKind,
    Callable[[Layers, AnatomyParams, FindingSpec, np.random.Generator], tuple[Box, ...]],
] = {
    FindingKind.PLEURAL_EFFUSION: _effusion,
    FindingKind.PNEUMOTHORAX: _pneumothorax,
    FindingKind.CONSOLIDATION: _consolidation,
    FindingKind.NODULE: _lesion,
    FindingKind.MASS: _lesion,
    FindingKind.EDEMA: _edema,
    FindingKind.ATELECTASIS: _atelectasis,
    FindingKind.RIB_FRACTURE: _rib_fracture,
    FindingKind.ENDOTRACHEAL_TUBE: _endotracheal_tube,
    FindingKind.CENTRAL_LINE: _central_line,
    FindingKind.PACEMAKER: _pacemaker,
}

#: Order of drawing: the lungs' own changes first, then what lies over them.
DRAW_ORDER: tuple[FindingKind, ...] = (
    FindingKind.CARDIOMEGALY,
    FindingKind.ATELECTASIS,
    FindingKind.EDEMA,
    FindingKind.CONSOLIDATION,
    FindingKind.NODULE,
    FindingKind.MASS,
    FindingKind.PLEURAL_EFFUSION,
    FindingKind.PNEUMOTHORAX,
    FindingKind.RIB_FRACTURE,
    FindingKind.CENTRAL_LINE,
    FindingKind.PACEMAKER,
    FindingKind.ENDOTRACHEAL_TUBE,
)


def draw(
    layers: Layers, params: AnatomyParams, finding: FindingSpec, rng: np.random.Generator
) -> tuple[Box, ...]:
    """Draw ``finding`` into ``layers`` (in place) and return its boxes."""
    if finding.kind == FindingKind.CARDIOMEGALY:
        v_limit = max(params.dome) + 0.06
        return _boxes([(layers.heart > 0.5) & (layers.v < v_limit)])
    return _DRAW[finding.kind](layers, params, finding, rng)
