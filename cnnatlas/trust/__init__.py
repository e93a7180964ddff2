"""Trust the maps (issue #12): how far each attribution method can be trusted.

Modules:
    faithfulness  deletion / insertion curves and AUCs (Petsiuk et al., RISE, arXiv:1806.07421)
    randomization, pointing, synthetic  sanity checks (Adebayo et al., arXiv:1810.03292)

This package imports none of its modules eagerly, so each can be added independently.
"""
