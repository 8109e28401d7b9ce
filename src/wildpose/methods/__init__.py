"""The weakly-supervised methods, one package per paper, each holding only that paper's
config, data and training step (the engine, losses, metrics and readers are shared):

* ``zhou``        -- Zhou et al. 2017: mixed 2D/3D batches with a geometric bone-ratio loss.
* ``zhou_image``  -- Zhou et al. 2017's end-to-end image network (hourglass + depth).
* ``ronchi``      -- Ronchi et al. 2018: lifting trained from relative depth labels only.
* ``dual_source`` -- Iqbal et al. 2017: mocap retrieval in a normalized 2D pose space.

The papers' experiments (tables) live outside the library, in ``experiments/``.
"""
