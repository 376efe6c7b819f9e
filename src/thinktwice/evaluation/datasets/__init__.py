"""evaluation/datasets"""
