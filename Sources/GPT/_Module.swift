// GPT module
