"""Paper experiments run on wildpose, outside the installed library: each script trains and
scores the rows of one of the papers' tables and writes them as markdown and JSON.

    python -m experiments.ronchi_table [--data-dir DIR] [--out-dir DIR] [--quick]
    python -m experiments.zhou_transfer [...]
    python -m experiments.zhou_image_ablation [...]

``configs/`` (beside this folder) holds this folder's sweep configs.
"""
