// LiveClass
