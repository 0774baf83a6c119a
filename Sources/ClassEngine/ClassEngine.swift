// ClassEngine
