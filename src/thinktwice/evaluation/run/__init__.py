"""Running an evaluation: the resumable, locked, distributed runner (``runner``), the files it
keeps in its folder (``results``, ``maps_store``, ``saliency_store``, ``run_folder``,
``record_check``), the box worker pool (``box_pool``), torchrun's ranks (``distributed``) and
re-scoring stored maps (``rescore``)."""
