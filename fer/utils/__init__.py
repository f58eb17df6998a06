"""Small helpers that every layer uses: ``atomic`` (write a file whole or not at all) and
``device`` (where and in what precision torch computes, decided once)."""
