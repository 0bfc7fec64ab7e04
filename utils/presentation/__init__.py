"""Presentation: figures (:mod:`.viz`, :mod:`.diagrams`, :mod:`.explorer`, :mod:`.featurevis`), the
``activations`` command (:mod:`.activations_cli`), the numbers the notes quote (:mod:`.quoted`),
running notebooks (:mod:`.notebook_exec`), the book (:mod:`.book`) and JupyterLab (:mod:`.lab`).
"""
