"""Stand-ins for the systems the adapter talks to.

Each simulator mimics one real system over real HTTP and must not import product code, so that it
stays a fair judge of the product.
"""
