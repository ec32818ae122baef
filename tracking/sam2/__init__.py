"""SAM 2.1 (Hiera image encoder, streaming memory) as a tam tracking backend, written from the paper and reference."""
