"""Trust the maps (issue #12): how far each attribution method can be trusted.

Modules:
    deletion      deletion / insertion curves and AUCs (Petsiuk et al., RISE, arXiv:1806.07421)
    faithfulness  deletion / insertion in the pipeline: the maps evaluated, baselines, cache
    randomization, pointing, synthetic  sanity checks (Adebayo et al., arXiv:1810.03292)

This package imports none of its modules eagerly, so each can be added independently.
"""
