"""Data of the ``stereo`` recipe: rendered rooms and procedural layered pairs, augmented
asymmetrically between the views (:mod:`.data`), and its multi-scale loss (:mod:`.losses`)."""
