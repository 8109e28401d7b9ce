"""The weakly-supervised methods, each composed from the shared building blocks:

* ``zhou``        -- Zhou et al. 2017: mixed 2D/3D batches with a geometric bone-ratio loss.
* ``ronchi``      -- Ronchi et al. 2018: lifting trained from relative depth labels only.
* ``dual_source`` -- Iqbal et al. 2017: mocap retrieval in a normalized 2D pose space.
"""
