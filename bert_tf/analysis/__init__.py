"""Understanding BERT: what each attention head looks at and how its maps look (`attention`), how much each head
matters and pruning the ones that do not (`heads`), whether attention agrees with gradients (`saliency`), and
their figures (`plots`); `collect` runs a model over sentences for them. `analyze_attention.py` is the script."""
