"""``edgekit matrix``: release builds of many models × targets × precisions, on this machine
(a process pool) or on a Ray cluster. Ray is imported only by ``ray_executor``, on first use."""
