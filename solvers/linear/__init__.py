"""Linear solvers of the implicit PDE solvers: red-black SOR on their grids (:mod:`.redblack`),
SOR for any scipy sparse matrix (:mod:`.sor`), the choice of its relaxation factor by a bandit
("Learning to Relax", :mod:`.tuners`) and the tuned solve that ``heat2d`` and ``darcy2d`` call
(:mod:`.tuned_solve`).
"""
