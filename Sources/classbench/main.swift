print("classbench")
