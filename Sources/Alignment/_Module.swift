// Alignment module
