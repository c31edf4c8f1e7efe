"""Loss functions: pure, batched tensor functions of the methods' outputs."""
