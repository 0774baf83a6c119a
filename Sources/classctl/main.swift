print("classctl")
