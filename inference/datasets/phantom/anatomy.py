"""The normal chest: geometry, tissue layers and the film curve. Numpy and Pillow only.

Everything is drawn in body coordinates ``(u, v)``: ``u`` runs across the patient, ``-1`` at
the inner margin of the ribcage on the image's left (the patient's right) and ``+1`` on the
image's right; ``v`` runs down, ``0`` at the lung apices and ``1`` at the costophrenic angles.
``a = |u - shift|`` is the distance from the midline toward either side. Layers are
*densities* (attenuation in units of one chest thickness of soft tissue): larger is brighter
on a MONOCHROME2 display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

F32 = NDArray[np.float32]

# Body-coordinate landmarks shared with the findings.
LUNG_LATERAL = 0.93  # a of the lateral lung margin at the bases
HILUM = (0.24, 0.40)  # (a, v)
CARINA_V = 0.30
DOME_A = 0.5  # a of the diaphragm's dome


def smoothstep(x: NDArray[np.floating[Any]], width: float) -> F32:
    """0 for ``x <= -width/2``, 1 for ``x >= width/2``, smooth between."""
    t = x * np.float32(1.0 / width)
    t += np.float32(0.5)
    np.clip(t, 0.0, 1.0, out=t)
    out = t * np.float32(-2.0)
    out += np.float32(3.0)
    out *= t
    out *= t
    return out.astype(np.float32, copy=False)


@dataclass(frozen=True)
class Geometry:
    """Where the thorax lies on the image (pixels) and how it is tilted."""

    rows: int
    cols: int
    cx: float  # column of the midline at the thorax centre
    cy: float  # row of the thorax centre (v = 0.5)
    half_width: float  # px from midline to the ribcage (u = 1)
    height: float  # px from apex (v = 0) to costophrenic angle (v = 1)
    angle: float  # radians, in-plane tilt

    def to_pixel(self, u: float, v: float) -> tuple[float, float]:
        """Image ``(x, y)`` of body point ``(u, v)``."""
        px, py = u * self.half_width, (v - 0.5) * self.height
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.cx + c * px - s * py, self.cy + s * px + c * py

    def grid(self) -> tuple[F32, F32]:
        """``(u, v)`` of every pixel, each ``(rows, cols)`` float32."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx = np.arange(self.cols, dtype=np.float32) - np.float32(self.cx)
        dy = np.arange(self.rows, dtype=np.float32) - np.float32(self.cy)
        px = c * dx[None, :] + s * dy[:, None]
        py = -s * dx[None, :] + c * dy[:, None]
        return (px / self.half_width).astype(np.float32), (py / self.height + 0.5).astype(
            np.float32
        )


@dataclass(frozen=True)
class RibBreak:
    """A fractured posterior rib: ``index`` counts from the apex, ``a`` is the break's site."""

    side: int  # -1 image left (patient right), +1 image right
    index: int
    a: float
    step: float  # displacement in rib spacings
    gap: float  # width of the gap in ``a`` units


@dataclass(frozen=True)
class AnatomyParams:
    """A patient and an exposure. Findings change some of these (heart size, domes)."""

    geometry: Geometry
    female: bool
    ctr: float  # cardiothoracic ratio
    dome: tuple[float, float]  # v of the (right, left) hemidiaphragm dome
    shift: float  # mediastinal shift in u (+ toward the image's right)
    thickness: float  # soft tissue, patient size
    air: float  # how much the lungs lower the density
    rib_phase: float
    rib_spacing: float
    film_k: float
    window: tuple[float, float]  # display window on the film curve (low, high)
    gamma: float
    noise: float  # quantum noise, relative
    rib_break: RibBreak | None = None

    @property
    def pixel_spacing_mm(self) -> float:
        """Spacing that makes the ribcage 28 cm wide (an adult's inner chest width)."""
        return 280.0 / (2.0 * self.geometry.half_width)


def sample_params(rng: np.random.Generator, rows: int, cols: int, *, female: bool) -> AnatomyParams:
    """A random normal patient that fits the image."""
    scale = min(rows, cols)
    half_width = scale * rng.uniform(0.36, 0.42) * (cols / scale) ** 0.15
    height = scale * rng.uniform(0.58, 0.66) * (rows / scale) ** 0.15
    geometry = Geometry(
        rows=rows,
        cols=cols,
        cx=cols / 2 + scale * rng.uniform(-0.025, 0.025),
        cy=rows * rng.uniform(0.46, 0.50),
        half_width=float(half_width),
        height=float(height),
        angle=math.radians(rng.uniform(-3.0, 3.0)),
    )
    right = rng.uniform(0.76, 0.84)
    film_k = float(rng.uniform(0.7, 0.9))
    return AnatomyParams(
        geometry=geometry,
        female=female,
        ctr=float(rng.uniform(0.40, 0.48)),
        dome=(float(right), float(right + rng.uniform(0.01, 0.05))),
        shift=float(rng.uniform(-0.025, 0.025)),
        thickness=float(rng.uniform(0.9, 1.15)),
        air=float(rng.uniform(0.72, 0.80)),
        rib_phase=float(rng.uniform(-0.10, -0.06)),
        rib_spacing=float(rng.uniform(0.092, 0.104)),
        film_k=film_k,
        window=(
            float(rng.uniform(0.0, 0.04)),
            (1.0 - math.exp(-1.6 * film_k)) * rng.uniform(0.95, 1.05),
        ),
        gamma=float(rng.uniform(0.85, 1.2)),
        noise=float(rng.uniform(0.012, 0.025)),
    )


@dataclass
class Layers:
    """The chest as density layers on the pixel grid, each ``(rows, cols)`` float32.

    Findings edit these in place before :func:`compose` sums them.
    """

    u: F32
    v: F32
    a: F32  # distance from the (shifted) midline in u
    side: F32  # -1 on the image's left half, +1 on the right
    lung: F32  # 0..1 lung field (heart and mediastinum excluded)
    heart: F32  # 0..1 heart silhouette
    soft: F32  # soft tissue (body outline, mediastinum, abdomen)
    air: F32  # density the lungs' air removes (positive)
    bone: F32
    vessels: F32  # pulmonary markings (already inside the lungs)
    extra: F32 = field(default_factory=lambda: np.zeros((0, 0), np.float32))


def lung_lateral(v: F32) -> F32:
    """``a`` of the lateral lung margin at height ``v``."""
    t = np.clip(v * (1.0 / 0.8), 0.0, 1.0)
    return LUNG_LATERAL * (0.28 + 0.72 * np.sin(t * (np.pi / 2)) ** 0.7)


def diaphragm(a: F32, dome: F32 | float) -> F32:
    """``v`` of the hemidiaphragm at ``a``: a dome reaching ``v = 1`` at the lateral angle."""
    lateral = dome + (1.0 - dome) * ((a - DOME_A) * (1.0 / (LUNG_LATERAL - DOME_A))) ** 2
    medial = dome + 0.10 * ((DOME_A - a) * (1.0 / 0.4)) ** 2
    return np.where(a > DOME_A, lateral, medial).astype(np.float32)


def _ribs(p: F32, width: float, edge: float) -> tuple[F32, F32]:
    """Band profile of a rib family from its rib coordinate ``p`` (one rib per unit).

    Returns (bone, index): the density profile with brighter cortical margins, and the
    rib's index (``floor(p)``).
    """
    index = np.floor(p)
    q = p - index
    body = smoothstep(q - edge, edge) * smoothstep(width - edge - q, edge)
    cortex = np.exp(-(((q - 1.2 * edge) * (1.0 / edge)) ** 2)) + np.exp(
        -(((q - width + 1.2 * edge) * (1.0 / edge)) ** 2)
    )
    return (0.55 * body + 0.45 * cortex * body).astype(np.float32), index.astype(np.float32)


def rib_coordinate(params: AnatomyParams, t: F32) -> F32:
    """Rib coordinate of the vertical position ``t`` (ribs widen toward the bases)."""
    d = t - params.rib_phase
    return (d * (1.0 / params.rib_spacing) * (1.0 - 0.10 * d)).astype(np.float32)


def posterior_rib_curve(a: F32 | float) -> F32 | float:
    """How far down a posterior rib has run at ``a`` from the spine."""
    return -0.10 * a + 0.27 * a * a * a


def _vessel_tree(params: AnatomyParams, rng: np.random.Generator, scale: float) -> Image.Image:
    """Branching pulmonary vessels from both hila, drawn in image pixels (mode ``L``)."""
    g = params.geometry
    canvas = Image.new("L", (g.cols, g.rows), 0)
    draw = ImageDraw.Draw(canvas)
    px_per_u = g.half_width
    stack: list[tuple[float, float, float, float, float, int]] = []
    for side in (-1, 1):
        hu, hv = params.shift + side * HILUM[0], HILUM[1]
        for k in range(7):
            # Directions fan out from the hilum: up, out, down (radians, 0 = lateral).
            theta = -1.35 + k * 0.45 + rng.uniform(-0.2, 0.2)
            stack.append((hu, hv, side * math.cos(theta), math.sin(theta), 0.95, 0))
    while stack:
        u0, v0, du, dv, width, depth = stack.pop()
        length = (0.20 if depth == 0 else 0.16 * 0.78**depth) * rng.uniform(0.8, 1.2)
        u1 = u0 + du * length
        v1 = v0 + dv * length * (g.half_width / g.height)
        x0, y0 = g.to_pixel(u0, v0)
        x1, y1 = g.to_pixel(u1, v1)
        shade = int(255 * (0.9 * 0.88**depth))
        draw.line([(x0, y0), (x1, y1)], fill=shade, width=max(1, round(width * 0.012 * px_per_u)))
        if depth < 5:
            for turn in (-1.0, 1.0):
                phi = turn * rng.uniform(0.25, 0.55)
                c, s = math.cos(phi), math.sin(phi)
                stack.append((u1, v1, c * du - s * dv, s * du + c * dv, width * 0.72, depth + 1))
    return canvas.filter(ImageFilter.GaussianBlur(0.9 * scale))


def _lowres_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> F32:
    """Smooth random texture: ``cells`` x ``cells`` Gaussian noise resized up bicubically."""
    small = rng.standard_normal((cells, cells), dtype=np.float32)
    image = Image.fromarray(small, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def render_layers(params: AnatomyParams, rng: np.random.Generator) -> Layers:
    """The normal chest of ``params`` as :class:`Layers` (random texture from ``rng``)."""
    g = params.geometry
    u, v = g.grid()
    eu, ev = 1.5 / g.half_width, 1.5 / g.height
    scale = min(g.rows, g.cols) / 512.0
    x = u - params.shift
    side = np.where(x < 0, np.float32(-1.0), np.float32(1.0))
    a = np.abs(x)
    left = x >= 0  # the image's right: the patient's left

    # Body outline: chest wall, shoulders, neck; abdomen below the domes.
    half_body = 1.13 + 0.32 * smoothstep(-0.02 - v, 0.2)
    top = np.where(a < 0.30, np.float32(-9.0), -0.20 - 0.10 * (a - 0.30) - 0.08 * (a - 0.30) ** 2)
    body = smoothstep(half_body - a, eu * 2) * smoothstep(v - top, ev * 6)
    chord = np.sqrt(np.clip(1.0 - (a / half_body) ** 2, 0.0, 1.0))
    soft = params.thickness * (0.10 + 0.90 * chord) * body

    # Lungs.
    dome = np.where(left, np.float32(params.dome[1]), np.float32(params.dome[0]))
    lat = lung_lateral(v)
    apex = 1.3 * (a - 0.40) ** 2 - 0.03
    knob = left * (
        0.075 * np.exp(-(((v - 0.20) * (1 / 0.075)) ** 2))
        + 0.04 * np.exp(-(((v - 0.34) * (1 / 0.06)) ** 2))
    )
    medial = 0.105 + knob + 0.02 * (1 - left) * smoothstep(v - 0.15, 0.2)
    dia = diaphragm(a, dome)
    lung = (
        smoothstep(lat - a, eu)
        * smoothstep(v - apex, ev)
        * smoothstep(dia - v, ev)
        * smoothstep(a - medial, eu)
    )

    # Heart: a tilted ellipse (long axis down toward the apex) whose horizontal extent is
    # ctr times the ribcage's inner width, resting on the domes.
    half = params.ctr * LUNG_LATERAL * g.half_width  # px
    tilt = math.radians(38.0)
    ct, st = math.cos(tilt), math.sin(tilt)
    minor = half / math.sqrt(1.35**2 * ct * ct + st * st)
    major = 1.35 * minor
    hx = (u - (params.shift + 0.30 * params.ctr * LUNG_LATERAL)) * g.half_width
    hy = (v - 0.70) * g.height
    along = ct * hx + st * hy
    across = -st * hx + ct * hy
    r2 = (along / major) ** 2 + (across / minor) ** 2
    heart = smoothstep(1.0 - r2, 3.0 / minor).astype(np.float32)
    lung = lung * (1.0 - heart)
    abdomen = smoothstep(v - dia, ev * 1.5) * body
    above = 1.0 - abdomen
    soft = soft + 0.14 * abdomen + 0.06 * heart * above * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))

    depth = np.sqrt(np.clip(1.0 - ((a - 0.52) * (1 / 0.55)) ** 2, 0.0, 1.0))
    air = params.air * params.thickness * lung * (0.55 + 0.45 * depth)
    air = air * (0.65 + 0.35 * smoothstep(v - 0.18, 0.35))

    # Trachea and main bronchi (air columns).
    tu = params.shift + 0.01 * v
    trachea = smoothstep(0.052 - np.abs(u - tu), eu * 2) * smoothstep(CARINA_V - v, ev * 3)
    for s, slope in ((-1.0, 0.55), (1.0, 0.95)):
        along = np.clip(v - CARINA_V, 0.0, 0.12)
        centre = tu + s * slope * along
        bronchus = smoothstep(0.026 - np.abs(u - centre), eu * 3)
        trachea = np.maximum(trachea, bronchus * smoothstep(v - CARINA_V, ev) * (v < 0.42))
    air = air + 0.16 * trachea * body

    # Bones: spine with vertebral bodies and discs, posterior and anterior ribs, clavicles.
    su = params.shift
    spine_band = smoothstep(0.075 - np.abs(u - su), eu * 2) * body
    level = (v + 0.30) * (1.0 / 0.072)
    frac = level - np.floor(level)
    disc = np.exp(-(((frac - 0.92) * (1 / 0.06)) ** 2))
    pedicle = np.exp(
        -(((np.abs(u - su) - 0.052) * (1 / 0.012)) ** 2) - ((frac - 0.45) * (1 / 0.18)) ** 2
    )
    bone = spine_band * (0.20 * (1.0 - 0.35 * disc) + 0.12 * pedicle)

    p_post = rib_coordinate(params, v - posterior_rib_curve(a))
    if params.rib_break is not None:
        rb = params.rib_break
        on_rib = (np.floor(p_post) == rb.index) & (side == rb.side) & (a > rb.a)
        p_post = np.where(on_rib, p_post - rb.step, p_post).astype(np.float32)
    post, post_index = _ribs(p_post, 0.42, 0.05)
    cage = smoothstep(lat + 0.09 - a, eu * 6) * smoothstep(a - 0.07, 0.05)
    post = post * cage * (post_index >= 0) * (post_index <= 11)
    if params.rib_break is not None:
        rb = params.rib_break
        hole = np.exp(-(((a - rb.a) * (1.0 / rb.gap)) ** 2)) * (post_index == rb.index)
        post = post * (1.0 - 0.95 * hole * (side == rb.side))
    p_ant = rib_coordinate(params, v - posterior_rib_curve(1.0) - 0.36 * (1.0 - np.minimum(a, 1.0)))
    ant, ant_index = _ribs(p_ant, 0.50, 0.09)
    ant = ant * smoothstep(a - 0.42, 0.14) * cage * (ant_index >= 0) * (ant_index <= 6)
    clav_v = 0.06 - 0.13 * a + 0.05 * np.sin(np.pi * np.clip(a, 0.0, 1.3))
    clavicle = np.exp(-(((v - clav_v) * (1 / 0.028)) ** 2)) * smoothstep(a - 0.10, 0.04)
    clavicle = clavicle * smoothstep(1.22 - a, 0.06)
    humerus = np.sqrt(
        np.clip(1.0 - ((a - 1.42) * (1 / 0.17)) ** 2 - ((v + 0.10) * (1 / 0.13)) ** 2, 0.0, 1.0)
    )
    bone = bone + (0.13 * post + 0.06 * ant + 0.28 * clavicle + 0.45 * humerus) * body

    # Vessels fade toward the periphery; hila are dense.
    tree = np.asarray(_vessel_tree(params, rng, scale), dtype=np.float32) * (1.0 / 255.0)
    hilar = np.exp(-(((a - HILUM[0]) * (1 / 0.08)) ** 2) - ((v - HILUM[1]) * (1 / 0.09)) ** 2)
    texture = _lowres_noise(rng, (g.rows, g.cols), 28)
    fade = 1.0 - 0.35 * np.clip((a - 0.25) * (1 / 0.7), 0.0, 1.0)
    vessels = lung * (0.36 * tree * fade + 0.10 * hilar + 0.018 * texture + 0.03)

    if params.female:
        bu = 0.58
        r = ((a - bu) * (1 / 0.46)) ** 2 + ((v - 0.98) * (1 / 0.30)) ** 2
        breast = smoothstep(1.0 - r, 0.10) * smoothstep(v - 0.70, 0.35)
        soft = soft + 0.07 * breast * body
    soft = soft + 0.02 * _lowres_noise(rng, (g.rows, g.cols), 12) * body

    f32 = np.float32
    return Layers(
        u=u,
        v=v,
        a=a.astype(f32),
        side=side,
        lung=lung.astype(f32),
        heart=heart,
        soft=soft.astype(f32),
        air=air.astype(f32),
        bone=bone.astype(f32),
        vessels=vessels.astype(f32),
        extra=np.zeros_like(u),
    )


def compose(
    layers: Layers, params: AnatomyParams, noise: NDArray[np.float32], bits_stored: int
) -> NDArray[np.uint16]:
    """Sum the layers, apply the film curve and window, add quantum noise; MONOCHROME2 values.

    ``noise`` is standard normal, shape of the image. Returns ``uint16`` in
    ``0 .. 2**bits_stored - 1``.
    """
    density = layers.soft - layers.air + layers.bone + layers.vessels + layers.extra
    density = np.maximum(density, 0.0)
    film = 1.0 - np.exp(-params.film_k * density)
    low, high = params.window
    shown = np.clip((film - low) * (1.0 / (high - low)), 0.0, 1.0) ** params.gamma
    # Quantum noise: fewer photons behind denser tissue, so more noise in bright regions.
    shown = shown + params.noise * (0.4 + shown) * noise
    top = (1 << bits_stored) - 1
    return np.clip(np.rint(shown * top), 0, top).astype(np.uint16)
