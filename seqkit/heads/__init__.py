"""Output heads: loss, decoding and draws for softmax, sigmoid and CRF outputs."""
from .base import Head, SigmoidHead, SoftmaxHead, next_token_distribution
from .crf import CRF, transition_constraints

__all__ = ["Head", "SoftmaxHead", "SigmoidHead", "CRF", "transition_constraints",
           "next_token_distribution"]
