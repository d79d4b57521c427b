print("fwdwatch: not built yet")
