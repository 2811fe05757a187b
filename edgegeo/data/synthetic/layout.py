"""Placing props in a room: furniture on the floor (against walls or free-standing, chairs at
tables), clutter on floors, tables, shelves and on top of other clutter (stacks), rows of books
on shelves.

Props on one surface are kept apart by the axis-aligned bounds of their rotated footprints (a
conservative test), and must fit under the surface's headroom, so props do not interpenetrate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import clutter, furniture
from .primitives import translation, yaw_transform
from .props import Prop, draw_prop
from .room import Room

WALL_GAP = 0.02
"""Metres between a wall-standing prop and its wall (clears skirting boards)."""


@dataclass(eq=False)
class Slot:
    """A surface in the world that props are placed on.

    Attributes:
        world_T_surface: ``(4,4) float64`` pose of the surface centre (z axis up).
        half_extents: ``(2,)`` half size in metres.
        headroom: free height above it in metres.
        occupied: footprints already taken, ``(xmin, ymin, xmax, ymax)`` in the surface frame.
        weight: relative chance of being picked for clutter.
        bookshelf: True for a shelf that may get a row of books.
    """

    world_T_surface: np.ndarray
    half_extents: tuple[float, float]
    headroom: float
    occupied: list[tuple[float, float, float, float]] = field(default_factory=list)
    weight: float = 1.0
    bookshelf: bool = False

    def fits(self, rect, height: float, gap: float) -> bool:
        """True if ``rect`` (surface frame) lies on the surface, clears every occupied
        footprint by ``gap`` metres, and ``height`` fits under the headroom."""
        hx, hy = self.half_extents
        if rect[0] < -hx or rect[1] < -hy or rect[2] > hx or rect[3] > hy or height > self.headroom:
            return False
        return all(rect[2] + gap <= o[0] or rect[0] >= o[2] + gap or rect[3] + gap <= o[1] or rect[1] >= o[3] + gap
                   for o in self.occupied)


@dataclass(eq=False)
class Placement:
    """A prop and its pose in the world (``world_T_obj``, 4×4 float64)."""

    prop: Prop
    world_T_obj: np.ndarray


def footprint_rect(half_extents, yaw: float, x: float, y: float) -> tuple[float, float, float, float]:
    """Axis-aligned bounds ``(xmin, ymin, xmax, ymax)`` of a footprint of ``half_extents``
    rotated by ``yaw`` radians and centred at ``(x, y)``."""
    hx, hy = half_extents
    cos, sin = abs(np.cos(yaw)), abs(np.sin(yaw))
    ex, ey = hx * cos + hy * sin, hx * sin + hy * cos
    return (x - ex, y - ey, x + ex, y + ey)


def floor_slot(room: Room) -> Slot:
    """The room floor as a slot, with keep-out zones in front of doors."""
    lx, ly, height = room.size
    slot = Slot(translation((lx / 2, ly / 2, 0.0)), (lx / 2 - 0.015, ly / 2 - 0.015), height - 0.05)
    for wall in room.walls:
        for opening in wall.openings:
            if opening.kind != "door":
                continue
            corners = np.array([[opening.s0 - 0.2, 0.0], [opening.s1 + 0.2, 0.0],
                                [opening.s0 - 0.2, 1.0], [opening.s1 + 0.2, 1.0]])
            world = corners @ wall.world_T_wall[:2, :2].T + wall.world_T_wall[:2, 3] - [lx / 2, ly / 2]
            slot.occupied.append((*world.min(axis=0), *world.max(axis=0)))
    return slot


def _try_place_on_slot(rng, slot: Slot, prop: Prop, gap: float, yaw_choices=None) -> np.ndarray | None:
    """Try a few random poses of ``prop`` on ``slot``; mark and return ``world_T_obj`` or None."""
    hx, hy = slot.half_extents
    for _ in range(12):
        yaw = (rng.uniform(0, 2 * np.pi) if yaw_choices is None
               else yaw_choices[int(rng.integers(len(yaw_choices)))] + rng.normal(0, 0.05))
        ex, ey = footprint_rect(prop.half_extents, yaw, 0.0, 0.0)[2:]
        if ex > hx or ey > hy:
            continue
        x, y = rng.uniform(-hx + ex, hx - ex), rng.uniform(-hy + ey, hy - ey)
        rect = footprint_rect(prop.half_extents, yaw, x, y)
        if slot.fits(rect, prop.height, gap):
            slot.occupied.append(rect)
            return slot.world_T_surface @ yaw_transform(yaw, (x, y, 0.0))
    return None


def _try_place_against_wall(rng, room: Room, floor: Slot, prop: Prop) -> np.ndarray | None:
    """Try to stand ``prop`` with its back to a wall, clear of doors and windows."""
    hx, hy = prop.half_extents
    centre = floor.world_T_surface[:2, 3]
    for _ in range(12):
        wall = room.walls[int(rng.integers(4))]
        if wall.length < 2 * hx + 0.1:
            continue
        s = rng.uniform(hx + 0.05, wall.length - hx - 0.05)
        if wall.blocked(s - hx, s + hx, prop.height):
            continue
        world_T_obj = wall.world_T_wall @ translation((s, WALL_GAP + hy, 0.0))
        yaw = np.arctan2(world_T_obj[1, 0], world_T_obj[0, 0])
        x, y = world_T_obj[:2, 3] - centre
        rect = footprint_rect(prop.half_extents, yaw, x, y)
        if floor.fits(rect, prop.height, gap=0.05):
            floor.occupied.append(rect)
            return world_T_obj
    return None


def _chairs_at_table(rng, floor: Slot, table: Placement) -> list[Placement]:
    """Up to four chairs pulled up to the sides of a table, facing it."""
    placements = []
    centre = floor.world_T_surface[:2, 3]
    hx, hy = table.prop.half_extents
    for side in rng.permutation(4)[: int(rng.integers(1, 5))]:
        chair = furniture.chair(rng)
        reach = (hx if side % 2 == 0 else hy) + chair.half_extents[1] + rng.uniform(0.02, 0.15)
        angle = side * np.pi / 2
        local = np.array([np.cos(angle), np.sin(angle)]) * reach
        # The chair faces the table: its +y axis points from the chair to the table centre.
        table_T_chair = yaw_transform(angle + np.pi / 2, (*local, 0.0))
        world_T_chair = table.world_T_obj @ table_T_chair
        yaw = np.arctan2(world_T_chair[1, 0], world_T_chair[0, 0])
        x, y = world_T_chair[:2, 3] - centre
        rect = footprint_rect(chair.half_extents, yaw, x, y)
        if floor.fits(rect, chair.height, gap=0.03):
            floor.occupied.append(rect)
            placements.append(Placement(chair, world_T_chair))
    return placements


def place_furniture(rng: np.random.Generator, room: Room, floor: Slot, count: int) -> list[Placement]:
    """Place up to ``count`` pieces of furniture (plus chairs at dining tables and desks),
    covering at most about 45 % of the floor."""
    placements = []
    floor_area = room.size[0] * room.size[1]
    used_area = 0.0
    for _ in range(count):
        prop = draw_prop(rng, furniture.FURNITURE)
        area = 4 * prop.half_extents[0] * prop.half_extents[1]
        if used_area + area > 0.45 * floor_area:
            continue
        if prop.against_wall or rng.random() < 0.3:
            world_T_obj = _try_place_against_wall(rng, room, floor, prop)
        else:
            world_T_obj = _try_place_on_slot(rng, floor, prop, gap=0.3,
                                             yaw_choices=[0, np.pi / 2, np.pi, 3 * np.pi / 2])
        if world_T_obj is None:
            continue
        used_area += area
        placement = Placement(prop, world_T_obj)
        placements.append(placement)
        if prop.kind in ("table:dining", "table:desk") and rng.random() < 0.8:
            placements += _chairs_at_table(rng, floor, placement)
    return placements


def surface_slots(placements: list[Placement], ceiling_height: float) -> list[Slot]:
    """World slots for every surface of the placed props, headroom capped by the ceiling."""
    slots = []
    for placement in placements:
        for surface in placement.prop.surfaces:
            world_T_surface = placement.world_T_obj @ surface.obj_T_surface
            headroom = min(surface.headroom, ceiling_height - world_T_surface[2, 3] - 0.05)
            if headroom > 0.05:
                slots.append(Slot(world_T_surface, surface.half_extents, headroom, bookshelf=surface.bookshelf))
    return slots


def fill_shelf_with_books(rng: np.random.Generator, slot: Slot) -> list[Placement]:
    """A row of upright books along a shelf, spines facing +y, from a random start."""
    placements = []
    hx, hy = slot.half_extents
    x = -hx + rng.uniform(0.0, hx)
    end = hx - rng.uniform(0.0, hx)
    while True:
        book = clutter.book(rng, upright=True)
        bx, by = book.half_extents
        if x + 2 * bx > end or by > hy or book.height > slot.headroom:
            break
        y = hy - by - rng.uniform(0.0, 0.03)
        rect = (x, y - by, x + 2 * bx, y + by)
        if slot.fits(rect, book.height, gap=0.002):
            slot.occupied.append(rect)
            placements.append(Placement(book, slot.world_T_surface @ translation((x + bx, y, 0.0))))
        x += 2 * bx + rng.uniform(0.002, 0.01)
    return placements


def place_clutter(rng: np.random.Generator, slots: list[Slot], count: int) -> list[Placement]:
    """Place up to ``count`` small props on the slots; stackable props add their tops as new
    slots (favoured, so stacks form)."""
    placements = []
    for _ in range(count):
        prop = draw_prop(rng, clutter.CLUTTER)
        weights = np.array([slot.weight for slot in slots])
        for _attempt in range(6):
            slot = slots[int(rng.choice(len(slots), p=weights / weights.sum()))]
            world_T_obj = _try_place_on_slot(rng, slot, prop, gap=0.01)
            if world_T_obj is not None:
                break
        else:
            continue
        placements.append(Placement(prop, world_T_obj))
        if prop.stackable:
            for surface in prop.surfaces:
                headroom = min(surface.headroom, slot.headroom - prop.height)
                if headroom > 0.05:
                    slots.append(Slot(world_T_obj @ surface.obj_T_surface, surface.half_extents,
                                      headroom, weight=3.0))
    return placements
