"""Surface materials: a texture mapped at world scale, a tint, Blinn-Phong specular and
emission, plus seeded samplers that pick plausible materials for each kind of surface.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import textures
from .textures import Texture


@dataclass(eq=False)
class Material:
    """How a surface looks.

    Attributes:
        name: short description, e.g. ``"wall:paint"``.
        texture: the albedo texture (sRGB).
        tile_m: ``(2,)`` metres covered by one texture tile along the texture's u and v axes.
        tint: ``(3,)`` linear multiplier of the texture's linear albedo (keeps albedo ≤ ~0.9).
        specular: Blinn-Phong specular strength in [0, 1] (0 = matte).
        shininess: Blinn-Phong exponent (> 0; larger = sharper highlight).
        emission: self-illumination, radiance = emission × albedo (windows' outdoors, lamps).
    """

    name: str
    texture: Texture
    tile_m: tuple[float, float] = (1.0, 1.0)
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    specular: float = 0.0
    shininess: float = 32.0
    emission: float = 0.0

    def __post_init__(self):
        if len(self.tile_m) != 2 or min(self.tile_m) <= 0 or not np.all(np.isfinite(self.tile_m)):
            raise ValueError(f"material {self.name!r}: tile_m must be two positive sizes, got {self.tile_m}")
        if len(self.tint) != 3 or min(self.tint) < 0:
            raise ValueError(f"material {self.name!r}: tint must be 3 non-negative values, got {self.tint}")
        if not 0.0 <= self.specular <= 1.0 or self.shininess <= 0 or self.emission < 0:
            raise ValueError(f"material {self.name!r}: need 0 <= specular <= 1, shininess > 0, "
                             f"emission >= 0; got {self.specular}, {self.shininess}, {self.emission}")


PRINT_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "colorwheel", "camera", "coins", "clock")
"""Photos printed on packaging and boxes (everyday scenes; abstract images are for posters only)."""


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """sRGB ``(3,)`` in [0, 1] from hue (turns), saturation and value."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def linear(color) -> tuple[float, float, float]:
    """Linear RGB (a tint) of an sRGB colour in [0, 1] (gamma 2.2)."""
    return tuple(float(c) for c in np.clip(np.asarray(color, np.float64), 0.0, 1.0) ** 2.2)


def plain_material(name: str, color, specular: float = 0.0, shininess: float = 32.0) -> Material:
    """A uniform colour (sRGB ``(3,)`` in [0, 1]): textureless, the hard case for stereo."""
    return Material(name, textures.white(), tint=linear(color), specular=specular, shininess=shininess)


def _paint_color(rng: np.random.Generator) -> np.ndarray:
    """A wall-paint colour: mostly off-whites and muted pastels."""
    if rng.random() < 0.5:
        return _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.02, 0.12), rng.uniform(0.78, 0.93))
    return _hsv(rng.random(), rng.uniform(0.1, 0.35), rng.uniform(0.6, 0.88))


def _wood_color(rng: np.random.Generator) -> np.ndarray:
    """The light tone of a wood species (sRGB)."""
    return _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.85))


def _vivid_color(rng: np.random.Generator) -> np.ndarray:
    """A saturated object colour (plastic, painted metal, ceramics)."""
    return _hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.35, 0.9))


def _photo(rng: np.random.Generator, names: tuple[str, ...]) -> Texture:
    return textures.photo_texture(names[int(rng.integers(len(names)))])


def _tint_for_gray(rng: np.random.Generator, base: np.ndarray) -> tuple:
    """A linear tint that colours a grey photo (brick red, stone grey, ...), slightly darkened."""
    return tuple(float(c) for c in np.clip(base, 0.05, 1.0) ** 2.2 * rng.uniform(0.6, 0.95))


def wall_material(rng: np.random.Generator) -> Material:
    """Wall finish: paint (textureless), plaster, wallpaper stripes, brick or tiles."""
    choice = rng.choice(["paint", "plaster", "stripes", "brick", "tiles"], p=[0.45, 0.2, 0.12, 0.15, 0.08])
    color = _paint_color(rng)
    if choice == "paint":
        return plain_material("wall:paint", color)
    if choice == "plaster":
        return Material("wall:plaster", textures.noise(rng, rng.uniform(1.8, 2.6), rng.uniform(0.8, 0.92)),
                        tile_m=(1.5, 1.5), tint=linear(color))
    if choice == "stripes":
        texture = textures.stripes(rng, 8, duty=rng.uniform(0.3, 0.6), darkest=rng.uniform(0.75, 0.9))
        return Material("wall:wallpaper", texture, tile_m=(rng.uniform(0.8, 1.6),) * 2, tint=linear(color))
    if choice == "brick":
        tint = _tint_for_gray(rng, _hsv(rng.uniform(0.0, 0.08), rng.uniform(0.3, 0.6), 1.0))
        return Material("wall:brick", textures.photo_texture("brick"), tile_m=(0.75, 0.75), tint=tint)
    return Material("wall:tiles", textures.tiles(rng), tile_m=(0.6, 0.6), tint=linear(color),
                    specular=0.3, shininess=60.0)


def floor_material(rng: np.random.Generator) -> Material:
    """Floor finish: wood planks, tiles, carpet, stone (gravel photo) or concrete."""
    choice = rng.choice(["planks", "tiles", "carpet", "stone", "concrete"], p=[0.4, 0.2, 0.2, 0.1, 0.1])
    if choice == "planks":
        width = rng.uniform(0.12, 0.22)
        return Material("floor:planks", textures.planks(rng, 4, darkest=rng.uniform(0.55, 0.8)),
                        tile_m=(rng.uniform(1.5, 2.5), 4 * width), tint=linear(_wood_color(rng)),
                        specular=rng.uniform(0.05, 0.35), shininess=40.0)
    if choice == "tiles":
        side = rng.uniform(0.3, 0.6)
        light = _hsv(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.6, 0.9))
        if rng.random() < 0.5:
            dark = _hsv(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.15, 0.55))
            return Material("floor:checker", textures.checker(rng, light, dark),
                            tile_m=(4 * side, 4 * side), specular=0.4, shininess=80.0)
        return Material("floor:tiles", textures.tiles(rng), tile_m=(4 * side, 4 * side), tint=linear(light),
                        specular=0.4, shininess=80.0)
    if choice == "carpet":
        color = _hsv(rng.random(), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.7))
        return Material("floor:carpet", textures.noise(rng, rng.uniform(0.8, 1.4), 0.7), tile_m=(0.8, 0.8),
                        tint=linear(color))
    if choice == "stone":
        tint = _tint_for_gray(rng, _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.0, 0.25), 1.0))
        return Material("floor:stone", textures.photo_texture("gravel"), tile_m=(0.4, 0.4), tint=tint)
    gray = rng.uniform(0.45, 0.7)
    return Material("floor:concrete", textures.noise(rng, 2.2, 0.85), tile_m=(2.0, 2.0), tint=linear((gray,) * 3),
                    specular=0.1)


def ceiling_material(rng: np.random.Generator) -> Material:
    """Ceiling: white or off-white paint, sometimes with faint plaster texture."""
    color = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.06), rng.uniform(0.85, 0.95))
    if rng.random() < 0.7:
        return plain_material("ceiling:paint", color)
    return Material("ceiling:plaster", textures.noise(rng, 2.0, 0.93), tile_m=(2.0, 2.0), tint=linear(color))


def furniture_material(rng: np.random.Generator) -> Material:
    """Furniture body: wood, painted/laminate (textureless), or fabric."""
    choice = rng.choice(["wood", "painted", "fabric"], p=[0.5, 0.3, 0.2])
    if choice == "wood":
        return Material("furniture:wood", textures.planks(rng, 2, darkest=rng.uniform(0.55, 0.8)),
                        tile_m=(rng.uniform(0.8, 1.5), rng.uniform(0.3, 0.6)), tint=linear(_wood_color(rng)),
                        specular=rng.uniform(0.05, 0.3), shininess=30.0)
    if choice == "painted":
        return plain_material("furniture:painted", _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.25, 0.92)),
                              specular=rng.uniform(0.1, 0.5), shininess=rng.uniform(20, 120))
    color = _hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.7))
    texture = (textures.stripes(rng, int(rng.integers(4, 16)), darkest=0.75) if rng.random() < 0.3
               else textures.noise(rng, 1.0, 0.75))
    return Material("furniture:fabric", texture, tile_m=(0.5, 0.5), tint=linear(color))


def metal_material(rng: np.random.Generator) -> Material:
    """Brushed or painted metal: plain colour with a sharp specular highlight."""
    gray = rng.uniform(0.3, 0.75)
    color = (gray, gray, gray) if rng.random() < 0.6 else _vivid_color(rng)
    return plain_material("metal", color, specular=rng.uniform(0.4, 0.8), shininess=rng.uniform(60, 200))


def object_material(rng: np.random.Generator) -> Material:
    """Clutter: plastic, printed packaging (photos), paper (text), two-colour patterns or
    cardboard."""
    choice = rng.choice(["plastic", "photo", "paper", "pattern", "cardboard"],
                        p=[0.3, 0.25, 0.15, 0.15, 0.15])
    if choice == "plastic":
        return plain_material("object:plastic", _vivid_color(rng), specular=rng.uniform(0.2, 0.7),
                              shininess=rng.uniform(30, 150))
    if choice == "photo":
        size = rng.uniform(0.15, 0.4)
        return Material("object:print", _photo(rng, PRINT_PHOTOS),
                        tile_m=(size, size), specular=0.2, shininess=40.0)
    if choice == "paper":
        size = rng.uniform(0.15, 0.3)
        return Material("object:paper", _photo(rng, ("page", "text")), tile_m=(size, size),
                        tint=_tint_for_gray(rng, _hsv(rng.uniform(0.08, 0.15), rng.uniform(0, 0.2), 1.0)))
    if choice == "pattern":
        a, b = _vivid_color(rng), _vivid_color(rng)
        side = rng.uniform(0.05, 0.2)
        texture = (textures.checker(rng, a, b) if rng.random() < 0.5
                   else textures.two_color_stripes(rng, a, b, n_stripes=int(rng.integers(3, 10))))
        return Material("object:pattern", texture, tile_m=(side, side), specular=0.2)
    color = _hsv(rng.uniform(0.07, 0.1), rng.uniform(0.3, 0.5), rng.uniform(0.55, 0.75))
    return Material("object:cardboard", textures.noise(rng, 1.2, 0.85), tile_m=(0.5, 0.5), tint=linear(color))


def foliage_material(rng: np.random.Generator) -> Material:
    """Leaves of a house plant: dark green, fine-grained."""
    color = _hsv(rng.uniform(0.22, 0.33), rng.uniform(0.5, 0.75), rng.uniform(0.3, 0.5))
    return Material("plant:leaves", textures.noise(rng, 0.8, 0.4), tile_m=(0.3, 0.3), tint=linear(color),
                    specular=0.1)


def poster_material(rng: np.random.Generator, width_m: float, height_m: float) -> Material:
    """A photo print covering exactly one ``width_m × height_m`` face (no tiling)."""
    texture = _photo(rng, textures.COLOR_PHOTOS + ("camera", "moon", "coins"))
    return Material(f"poster:{texture.name}", texture, tile_m=(width_m, height_m), specular=0.15,
                    shininess=50.0)


def outdoor_ground_material(rng: np.random.Generator, brightness: float) -> Material:
    """Ground outside the windows (grass or gravel), self-lit at ``brightness``."""
    name = "grass" if rng.random() < 0.6 else "gravel"
    base = _hsv(0.25, 0.55, 0.8) if name == "grass" else _hsv(0.08, 0.15, 0.9)
    return Material(f"outdoor:{name}", textures.photo_texture(name), tile_m=(0.6, 0.6) if name == "grass" else (0.4, 0.4),
                    tint=_tint_for_gray(rng, base), emission=brightness)


def sky_material(rng: np.random.Generator, height_m: float, brightness: float) -> Material:
    """Sky on the enclosure around the building, one gradient over ``height_m``."""
    return Material("outdoor:sky", textures.sky(int(rng.integers(textures.POOL_VARIANTS))),
                    tile_m=(height_m, height_m), emission=brightness)


def lamp_material(brightness: float) -> Material:
    """A glowing lamp shade or ceiling fixture."""
    return Material("lamp", textures.white(), tint=linear((1.0, 0.97, 0.9)), emission=brightness)
